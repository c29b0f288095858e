package store

import (
	"encoding/binary"
	"hash/fnv"
)

// Digest identifies a message appended with an Idempotency-Key, for
// Record.Digest: a key reused for another message is caught rather than
// answered with the first one's id. It lives with the log, not with the
// master's key table, because every node that stores a keyed record
// computes it: the master for what it appends, a follower for what it
// receives (frames carry the key, not the digest), so that a promoted
// standby's table holds what its predecessor's did.
func Digest(msg string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(msg)) // hash writes never fail
	return h.Sum64()
}

// DigestBatch is Digest for a batch: every message and its place in the
// batch (each is length-prefixed, so ["ab","c"] and ["a","bc"] differ).
// It never equals a single message's Digest, so a key used for one
// message and then for a batch is caught.
func DigestBatch(msgs []string) uint64 {
	h := fnv.New64a()
	var n [9]byte
	n[0] = 'B'
	for _, m := range msgs {
		binary.BigEndian.PutUint64(n[1:], uint64(len(m)))
		_, _ = h.Write(n[:])
		_, _ = h.Write([]byte(m))
	}
	return h.Sum64()
}
