package replication

// Flow decides what the master sends one peer next. It is pure: the
// session's loop, its only caller, feeds it the log's last id, acks and
// nacks, and sends what it says.
//
// Sending is pipelined: up to window ids, in up to maxFrames frames, may be
// sent and not yet acked. The frame bound is what makes batches: while the
// frames in flight wait for their ack, new appends gather and then leave
// together in one frame, so under load a frame carries many messages (one
// write, one ack) and when idle a message leaves at once.
type Flow struct {
	next      uint64 // first id not yet sent
	acked     uint64 // every id up to acked is held by the peer
	highest   uint64 // the highest id ever sent; a nack rewinds next, never this
	window    uint64
	maxFrames int
	inFlight  []uint64 // last id of each frame sent and not yet acked
	observer  bool     // observers never ack; no bound applies
}

// NewFlow starts a flow that sends from id from, for a peer that holds
// everything before it.
func NewFlow(from, window uint64, maxFrames int, observer bool) Flow {
	return Flow{next: from, acked: from - 1, highest: from - 1, window: window, maxFrames: maxFrames, observer: observer}
}

// Next returns the first id to send and how many ids, at most max, may be
// sent now given the log's last id; n is 0 when there is nothing to send
// or the window is full.
func (f *Flow) Next(last uint64, max int) (from uint64, n int) {
	end := last
	if !f.observer {
		if len(f.inFlight) >= f.maxFrames {
			return f.next, 0
		}
		end = min(end, f.acked+f.window)
	}
	if f.next > end {
		return f.next, 0
	}
	return f.next, int(min(end-f.next+1, uint64(max)))
}

// Sent records that the n ids from where Next said went out. The
// session's loop is the flow's only caller, so nothing can move the flow
// between its Next and its Sent.
func (f *Flow) Sent(n int) {
	if n == 0 {
		return
	}
	f.next += uint64(n)
	f.highest = max(f.highest, f.next-1)
	if f.observer {
		f.acked = f.next - 1
		return
	}
	f.inFlight = append(f.inFlight, f.next-1)
}

// Ack records that the peer holds every id up to id; an ack it already
// had changes nothing (Acked says how far the peer got). An ack for ids
// never sent is a protocol error the caller must refuse, so Ack reports
// it as not ok. An ack beyond next after a nack is no error: the peer
// kept what followed the gap and the resend filled it, so the flow goes
// on from after what it acked.
func (f *Flow) Ack(id uint64) (ok bool) {
	if id > f.highest {
		return false
	}
	if id <= f.acked {
		return true
	}
	f.acked = id
	f.next = max(f.next, id+1)
	done := 0
	for done < len(f.inFlight) && f.inFlight[done] <= id {
		done++
	}
	f.inFlight = append(f.inFlight[:0], f.inFlight[done:]...)
	return true
}

// Nack rewinds the flow so that the next frame starts at from. A peer
// cannot lack what it acked, so from never goes below acked+1.
func (f *Flow) Nack(from uint64) {
	f.next = min(f.next, max(from, f.acked+1))
	// The frames in flight are answered by the nack; the resend must not
	// wait for acks that will come only after it.
	f.inFlight = f.inFlight[:0]
}

// Highest is the highest id ever sent: the most the peer may ack.
func (f *Flow) Highest() uint64 { return f.highest }

// Acked is the highest id the peer holds.
func (f *Flow) Acked() uint64 { return f.acked }
