package follow

// rotation is the order a follower dials its URLs in: round robin, each
// round starting from the URL that last accepted its hello, so that a
// follower goes back first to the master it was following. It only ever
// names a URL it was given. Pure; Run owns it.
type rotation struct {
	urls   []string
	first  int // where each round starts
	failed int // how many URLs of this round have failed
}

// current is the URL to dial now.
func (r *rotation) current() string { return r.urls[(r.first+r.failed)%len(r.urls)] }

// fail notes that current was unreachable or refused the hello, and
// reports whether that ends a round in which every URL failed: the
// follower then backs off before the next round, from the same first URL.
func (r *rotation) fail() (roundOver bool) {
	r.failed++
	if r.failed < len(r.urls) {
		return false
	}
	r.failed = 0
	return true
}

// accept notes that current accepted the hello: every round starts from
// it from now on.
func (r *rotation) accept() { r.first, r.failed = (r.first+r.failed)%len(r.urls), 0 }

// prefer makes url, when it is one of the URLs, where the next round
// starts (a leader hint, say); it reports whether it is one. Any other
// address changes nothing: a follower dials only what it was given.
func (r *rotation) prefer(url string) bool {
	for i, u := range r.urls {
		if u == url {
			r.first, r.failed = i, 0
			return true
		}
	}
	return false
}
