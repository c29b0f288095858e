package replication

import "testing"

func TestFlow(t *testing.T) {
	type step struct {
		op         string // next, sent, ack, nack
		arg        uint64
		wantFrom   uint64
		wantN      int
		wantAcked  uint64 // after an ack
		wantBadAck bool
	}
	cases := []struct {
		name     string
		from     uint64
		window   uint64
		observer bool
		last     uint64
		steps    []step
	}{
		{
			name: "catch-up and live are one path", from: 1, window: 100, last: 5,
			steps: []step{
				{op: "next", wantFrom: 1, wantN: 5},
				{op: "sent", arg: 5},
				{op: "next", wantFrom: 6, wantN: 0},
				{op: "ack", arg: 5, wantAcked: 5},
				{op: "ack", arg: 3, wantAcked: 5}, // old news changes nothing
			},
		},
		{
			name: "the window bounds what is in flight", from: 1, window: 3, last: 10,
			steps: []step{
				{op: "next", wantFrom: 1, wantN: 3},
				{op: "sent", arg: 3},
				{op: "next", wantFrom: 4, wantN: 0},
				{op: "ack", arg: 2, wantAcked: 2},
				{op: "next", wantFrom: 4, wantN: 2},
			},
		},
		{
			name: "batches are capped", from: 4, window: 1000, last: 100,
			steps: []step{{op: "next", wantFrom: 4, wantN: 64}},
		},
		{
			name: "a nack rewinds, but not below what was acked", from: 1, window: 100, last: 10,
			steps: []step{
				{op: "next", wantFrom: 1, wantN: 10},
				{op: "sent", arg: 10},
				{op: "ack", arg: 4, wantAcked: 4},
				{op: "nack", arg: 2},
				{op: "next", wantFrom: 5, wantN: 6},
			},
		},
		{
			// The peer rejected 1-5, kept 6-10 behind the gap, and the
			// resend of 1-5 filled it: it acks 10 while next is 6.
			name: "an ack beyond a resend, for ids sent before the nack, is taken", from: 1, window: 100, last: 12,
			steps: []step{
				{op: "next", wantFrom: 1, wantN: 12},
				{op: "sent", arg: 5},
				{op: "sent", arg: 5},
				{op: "nack", arg: 1},
				{op: "next", wantFrom: 1, wantN: 12},
				{op: "sent", arg: 5},
				{op: "ack", arg: 10, wantAcked: 10},
				{op: "next", wantFrom: 11, wantN: 2},
				{op: "ack", arg: 11, wantAcked: 10, wantBadAck: true},
			},
		},
		{
			name: "an ack for ids never sent is refused", from: 1, window: 100, last: 10,
			steps: []step{{op: "ack", arg: 1, wantBadAck: true}},
		},
		{
			name: "observers ignore the window", from: 1, window: 2, observer: true, last: 10,
			steps: []step{
				{op: "next", wantFrom: 1, wantN: 10},
				{op: "sent", arg: 10},
				{op: "next", wantFrom: 11, wantN: 0},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := NewFlow(c.from, c.window, 100, c.observer)
			for i, s := range c.steps {
				switch s.op {
				case "next":
					from, n := f.Next(c.last, 64)
					if n != s.wantN || (n > 0 && from != s.wantFrom) {
						t.Fatalf("step %d: Next = %d, %d; want %d, %d", i, from, n, s.wantFrom, s.wantN)
					}
				case "sent":
					f.Sent(int(s.arg))
				case "ack":
					if ok := f.Ack(s.arg); ok == s.wantBadAck || f.Acked() != s.wantAcked {
						t.Fatalf("step %d: Ack(%d) = %v, then Acked() = %d; want %v, %d", i, s.arg, ok, f.Acked(), !s.wantBadAck, s.wantAcked)
					}
				case "nack":
					f.Nack(s.arg)
				}
			}
		})
	}
}

func TestFlowBoundsFramesInFlight(t *testing.T) {
	f := NewFlow(1, 1000, 2, false)
	for i, want := range []struct {
		from uint64
		n    int
	}{{1, 1}, {2, 1}} {
		from, n := f.Next(uint64(i+1), 64)
		if from != want.from || n != want.n {
			t.Fatalf("frame %d: Next = %d, %d", i, from, n)
		}
		f.Sent(n)
	}
	if _, n := f.Next(10, 64); n != 0 {
		t.Fatalf("a third frame went out with two unacked: %d ids", n)
	}
	f.Ack(1) // the first frame's ack makes room; what gathered leaves as one frame
	if from, n := f.Next(10, 64); from != 3 || n != 8 {
		t.Fatalf("after the ack Next = %d, %d; want 3, 8", from, n)
	}
	f.Sent(8)
	f.Nack(2) // a nack answers every frame in flight: the resend goes at once
	if from, n := f.Next(10, 64); from != 2 || n != 9 {
		t.Fatalf("after a nack Next = %d, %d; want 2, 9", from, n)
	}
}
