package follow

import (
	"time"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// records are the log records of entries, as the master stored them: the
// epoch, and for a keyed append the key, its acceptance time and its
// digest. A follower's log then holds the master's keys, so that,
// promoted, it answers a retried key as the master did.
//
// A version-2 master sends each keyed entry's digest. One of the release
// before sent none: then the digest is rebuilt from the entries, which
// tells a batch (keyed on its first and last entries with the digest of
// the whole batch, store.DigestBatch) from a single message only when
// both ends are in one frame; a batch of one message, or one whose ends
// arrive in different frames, is read as a single message.
func records(entries []frame.Entry) []store.Record {
	recs := make([]store.Record, len(entries))
	next := -1 // entries[next] is the next keyed entry after i, when next > i
	for i, e := range entries {
		recs[i].Message, recs[i].Epoch = e.Message, e.Epoch // a batch's last entry may be keyed already
		if e.Key != "" && e.Digest != 0 {
			recs[i].Key, recs[i].Time, recs[i].Digest = e.Key, time.UnixMilli(e.At), e.Digest
			continue
		}
		if e.Key == "" || recs[i].Key != "" {
			continue // unkeyed, or a batch's last entry, filled with its first
		}
		if next <= i {
			next = nextKeyed(entries, i+1)
		}
		t := time.UnixMilli(e.At)
		if next < 0 || entries[next].Key != e.Key || entries[next].At != e.At {
			recs[i].Key, recs[i].Time, recs[i].Digest = e.Key, t, store.Digest(e.Message)
			continue
		}
		msgs := make([]string, next+1-i)
		for k := range msgs {
			msgs[k] = entries[i+k].Message
		}
		d := store.DigestBatch(msgs)
		recs[i].Key, recs[i].Time, recs[i].Digest = e.Key, t, d
		recs[next].Key, recs[next].Time, recs[next].Digest = e.Key, t, d
	}
	return recs
}

// nextKeyed is the index of the first keyed entry from from on, -1 when
// none is.
func nextKeyed(entries []frame.Entry, from int) int {
	for k := from; k < len(entries); k++ {
		if entries[k].Key != "" {
			return k
		}
	}
	return -1
}
