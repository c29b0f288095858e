package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/epoch"
	"github.com/replog/replog/shared/frame"
)

// TestStoreEpochs runs the failover cases of the conformance suite over
// every Store.
func TestStoreEpochs(t *testing.T) {
	for name, open := range implementations {
		t.Run(name, func(t *testing.T) {
			t.Run("EpochsRoundTrip", func(t *testing.T) { testEpochsRoundTrip(t, open(t)) })
			t.Run("History", func(t *testing.T) { testHistory(t, open(t)) })
			t.Run("Promise", func(t *testing.T) { testPromise(t, open(t)) })
			t.Run("RollBack", func(t *testing.T) { testRollBack(t, open(t)) })
			t.Run("RollBackBelowFirst", func(t *testing.T) { testRollBackBelowFirst(t, open(t)) })
			t.Run("ResetForgetsHistoryKeepsPromise", func(t *testing.T) { testResetEpochs(t, open(t)) })
			t.Run("ReadCarriesEpochsAndKeys", func(t *testing.T) { testReadCarries(t, open(t)) })
		})
	}
}

// appendEpochs appends the messages message-NNNNNN for ids from..to,
// each with the epoch spans gives its id, and a key on every tenth.
func appendEpochs(t *testing.T, s Store, from, to uint64, spans epoch.History) {
	t.Helper()
	for id := from; id <= to; id++ {
		r := Record{Message: fmt.Sprintf("message-%06d", id), Epoch: spans.Of(id)}
		if id%10 == 0 {
			r.Key, r.Digest, r.Time = fmt.Sprintf("key-%d", id), id, time.Unix(0, int64(id))
		}
		if got, err := s.Append(r); err != nil || got != id {
			t.Fatalf("append %d: got id %d, %v", id, got, err)
		}
	}
}

// checkEpochs fails unless s holds exactly from..to, each message as
// appendEpochs wrote it and of the epoch spans gives it.
func checkEpochs(t *testing.T, s Store, from, to uint64, spans epoch.History) {
	t.Helper()
	if s.FirstID() != from || s.LastID() != to {
		t.Fatalf("log holds %d..%d, want %d..%d", s.FirstID(), s.LastID(), from, to)
	}
	if held := int64(to+1-from) * 14; s.HeldBytes() != held {
		t.Fatalf("HeldBytes %d, want %d", s.HeldBytes(), held)
	}
	all, err := s.Read(nil, 1, 1<<20, 1<<30)
	if err != nil || uint64(len(all)) != to+1-from {
		t.Fatalf("read %d entries, %v; want %d", len(all), err, to+1-from)
	}
	for i, e := range all {
		id := from + uint64(i)
		if e.ID != id || e.Message != fmt.Sprintf("message-%06d", id) {
			t.Fatalf("entry %d = %+v", id, e)
		}
		if got := s.EpochOf(id); got != spans.Of(id) {
			t.Fatalf("EpochOf(%d) = %d, want %d", id, got, spans.Of(id))
		}
	}
	if s.EpochOf(to+1) != 0 || s.EpochOf(0) != 0 || (from > 1 && s.EpochOf(from-1) != 0) {
		t.Fatalf("EpochOf an id not held: %d, %d, %d", s.EpochOf(to+1), s.EpochOf(0), s.EpochOf(from-1))
	}
}

// fourEpochs gives ids 1..100 epoch 1 (written without the flag), 101..
// epoch 2, 201.. epoch 300 (a two-byte varint).
var fourEpochs = epoch.History{{Epoch: 1, FirstID: 1}, {Epoch: 2, FirstID: 101}, {Epoch: 300, FirstID: 201}}

func testEpochsRoundTrip(t *testing.T, s Store) {
	appendEpochs(t, s, 1, 250, fourEpochs)
	checkEpochs(t, s, 1, 250, fourEpochs)
	if _, err := s.Append(Record{Message: "epoch 0 is epoch 1"}); err != nil {
		t.Fatal(err)
	}
	if got := s.EpochOf(251); got != 1 {
		t.Fatalf("a record without an epoch is of epoch %d, want 1", got)
	}
}

func testHistory(t *testing.T, s Store) {
	if h := s.History(); h != nil {
		t.Fatalf("a log that never held anything has history %v, want none (epoch 0)", h)
	}
	appendEpochs(t, s, 1, 5, nil) // epoch 0: records of epoch 1
	one := epoch.History{{Epoch: 1, FirstID: 1}}
	if h := s.History(); !slices.Equal(h, one) {
		t.Fatalf("a log of epoch-1 records without a saved history has %v, want %v", h, one)
	}
	spans := epoch.History{{Epoch: 1, FirstID: 1}, {Epoch: 4, FirstID: 6}}
	appendEpochs(t, s, 6, 8, spans)
	for _, bad := range []epoch.History{
		nil,
		{{Epoch: 1, FirstID: 1}}, // ids 6..8 are of epoch 4
		{{Epoch: 1, FirstID: 1}, {Epoch: 4, FirstID: 7}},                // id 6 too
		{{Epoch: 1, FirstID: 1}, {Epoch: 3, FirstID: 6}},                // another epoch
		{{Epoch: 4, FirstID: 6}, {Epoch: 1, FirstID: 1}},                // out of order
		append(slices.Clone(spans), epoch.Start{Epoch: 5, FirstID: 10}), // beyond LastID+1: the log does not back it
	} {
		if err := s.SetHistory(bad); !errors.Is(err, ErrHistoryMismatch) {
			t.Fatalf("SetHistory(%v) = %v, want ErrHistoryMismatch", bad, err)
		}
	}
	if h := s.History(); !slices.Equal(h, one) {
		t.Fatalf("a refused history changed it to %v", h)
	}
	// An empty epoch 3 and a new epoch 5 starting at LastID+1 (a leader
	// that has just begun it) are fine.
	good := epoch.History{{Epoch: 1, FirstID: 1}, {Epoch: 3, FirstID: 6}, {Epoch: 4, FirstID: 6}, {Epoch: 5, FirstID: 9}}
	if err := s.SetHistory(good); err != nil {
		t.Fatal(err)
	}
	got := s.History()
	if !slices.Equal(got, good) {
		t.Fatalf("History() = %v after saving %v", got, good)
	}
	got[0].Epoch = 99 // a copy: the caller cannot change the store's
	if h := s.History(); !slices.Equal(h, good) {
		t.Fatalf("changing what History returned changed the store's: %v", h)
	}
}

func testPromise(t *testing.T, s Store) {
	if p := s.Promise(); p != (Promise{}) {
		t.Fatalf("an empty log's node promised %+v, want nothing", p)
	}
	mustAppend(t, s, "today's")
	if p := s.Promise(); p != (Promise{Promise: election.Promise{Epoch: 1}}) {
		t.Fatalf("a log without a saved promise says %+v, want {1, \"\"}", p)
	}
	v := election.NewVoter(s.Promise().Promise, s.Promise().Learner)
	p, err := v.Prepare(3, "m2")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPromise(Promise{Promise: p, Learner: v.Learner()}); err != nil {
		t.Fatal(err)
	}
	if got := s.Promise(); got != (Promise{Promise: election.Promise{Epoch: 3, To: "m2"}}) {
		t.Fatalf("Promise() = %+v after saving {3, m2}", got)
	}
	learner := Promise{Promise: election.Promise{Epoch: 4, To: "m1"}, Learner: true}
	if err := s.SetPromise(learner); err != nil || s.Promise() != learner {
		t.Fatalf("Promise() = %+v, %v after saving %+v", s.Promise(), err, learner)
	}
}

// testRollBack: the entries after keep leave the log, whose history is
// cut to what it backs; the next append follows keep, in whatever epoch.
func testRollBack(t *testing.T, s Store) {
	appendEpochs(t, s, 1, 300, fourEpochs)
	saved := append(slices.Clone(fourEpochs), epoch.Start{Epoch: 301, FirstID: 280}, epoch.Start{Epoch: 302, FirstID: 301})
	if err := s.SetHistory(saved); !errors.Is(err, ErrHistoryMismatch) {
		t.Fatalf("SetHistory claiming ids 280.. of epoch 301: %v", err)
	}
	saved = append(slices.Clone(fourEpochs), epoch.Start{Epoch: 302, FirstID: 301})
	if err := s.SetHistory(saved); err != nil {
		t.Fatal(err)
	}
	if rb, err := s.RollBackAfter(300, 7); err != nil || rb.Count() != 0 || rb.File != "" {
		t.Fatalf("rolling back nothing: %+v, %v", rb, err)
	}
	rb, err := s.RollBackAfter(150, 7)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Epoch != 7 || rb.From != 151 || rb.To != 300 || rb.Count() != 150 {
		t.Fatalf("rollback = %+v, want epoch 7, ids 151..300", rb)
	}
	checkEpochs(t, s, 1, 150, fourEpochs)
	if h, want := s.History(), fourEpochs[:2]; !slices.Equal(h, want) {
		t.Fatalf("history after the rollback %v, want %v (what the log backs)", h, want)
	}
	leader := epoch.History{{Epoch: 1, FirstID: 1}, {Epoch: 2, FirstID: 101}, {Epoch: 7, FirstID: 151}}
	if err := s.SetHistory(leader); err != nil {
		t.Fatalf("adopting the leader's history: %v", err)
	}
	appendEpochs(t, s, 151, 160, leader)
	checkEpochs(t, s, 1, 160, leader)
}

// testRollBackBelowFirst: retention dropped what a rollback would keep:
// refused, the log unchanged; a rollback to just below the first id
// empties the log, which goes on from there.
func testRollBackBelowFirst(t *testing.T, s Store) {
	appendEpochs(t, s, 1, 200, fourEpochs)
	if err := s.DropBefore(120); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RollBackAfter(118, 5); !errors.Is(err, ErrRollbackBelowFirst) {
		t.Fatalf("rollback after 118 with the first id 120: %v, want ErrRollbackBelowFirst", err)
	}
	checkEpochs(t, s, 120, 200, fourEpochs)
	if rb, err := s.RollBackAfter(119, 5); err != nil || rb.From != 120 || rb.To != 200 {
		t.Fatalf("rollback of everything held: %+v, %v", rb, err)
	}
	if s.FirstID() != 120 || s.LastID() != 119 || s.HeldBytes() != 0 {
		t.Fatalf("after rolling everything back: first %d, last %d, held %d", s.FirstID(), s.LastID(), s.HeldBytes())
	}
	appendEpochs(t, s, 120, 130, fourEpochs)
	checkEpochs(t, s, 120, 130, fourEpochs)
}

func testResetEpochs(t *testing.T, s Store) {
	appendEpochs(t, s, 1, 150, fourEpochs)
	if err := s.SetHistory(fourEpochs[:2]); err != nil {
		t.Fatal(err)
	}
	p := Promise{Promise: election.Promise{Epoch: 2, To: "m0"}}
	if err := s.SetPromise(p); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset("log-b"); err != nil {
		t.Fatal(err)
	}
	if h := s.History(); h != nil || s.EpochOf(1) != 0 {
		t.Fatalf("a reset log has history %v, EpochOf(1) %d", h, s.EpochOf(1))
	}
	if s.Promise() != p {
		t.Fatalf("a reset forgot the node's promise: %+v", s.Promise())
	}
}

// testReadCarries: Read gives each entry its epoch (0 for epoch 1, as a
// record without one and a frame without one read) and, in a durable
// store, its key and when it was accepted (unix ms), whether it is read
// from the newest entries (the disk's tail cache) or from the files, and
// from any id on, across the epochs' starts. A Memory keeps no keys.
func testReadCarries(t *testing.T, s Store) {
	at := time.UnixMilli(1764756000123)
	for id := uint64(1); id <= 250; id++ {
		r := Record{Message: "m", Epoch: fourEpochs.Of(id)}
		if id%10 == 0 {
			r.Key, r.Digest, r.Time = fmt.Sprintf("key-%d", id), id, at.Add(time.Duration(id)*time.Millisecond)
		}
		if _, err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	_, keeps := s.(*Disk)
	for _, from := range []uint64{1, 99, 100, 101, 150, 199, 200, 201, 240} {
		got, err := s.Read(nil, from, 1<<20, 1<<30)
		if err != nil || len(got) != int(251-from) {
			t.Fatalf("Read from %d: %d entries, %v", from, len(got), err)
		}
		for _, e := range got {
			want := frame.Entry{ID: e.ID, Message: "m"}
			if ep := fourEpochs.Of(e.ID); ep > 1 {
				want.Epoch = ep
			}
			if keeps && e.ID%10 == 0 {
				want.Key, want.At, want.Digest = fmt.Sprintf("key-%d", e.ID), 1764756000123+int64(e.ID), e.ID
			}
			if e != want {
				t.Fatalf("Read from %d: %+v, want %+v", from, e, want)
			}
		}
	}
}
