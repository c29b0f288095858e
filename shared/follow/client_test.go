package follow

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/store"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(secondaryProcessEnv); url != "" {
		runSecondaryProcess(url) // the test binary as a secondary's process (see pause_process_test.go)
		return
	}
	goleak.VerifyTestMain(m)
}

// startClient runs a client of st against a master the test speaks for.
func startClient(t *testing.T, st store.Store) *frametest.Master {
	fm, _ := startClientWith(t, st, Options{})
	return fm
}

// startClientWith is startClient with opts, and the client too.
func startClientWith(t *testing.T, st store.Store, opts Options) (*frametest.Master, *Client) {
	fm := frametest.Listen(t)
	opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 10*time.Millisecond
	c := New(Config{URLs: []string{fm.URL}, Name: "s1", Store: st, Log: zaptest.NewLogger(t), Options: opts})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() {
		fm.Close()
		cancel()
		<-done
	})
	return fm, c
}

func welcome(logID string, from uint64) frame.Frame {
	return frame.Frame{Type: frame.TypeWelcome, Version: frame.Version, LogID: logID, From: from, MaxFrameBytes: 1 << 20}
}

func TestClientAppliesAndAcks(t *testing.T) {
	st := store.NewMemory("")
	fm := startClient(t, st)
	conn, hello := fm.Accept()
	if hello.Name != "s1" || hello.LastID != 0 || hello.Version != frame.Version {
		t.Fatalf("hello %+v", hello)
	}
	conn.Send(welcome("L", 1))
	conn.Send(frametest.Entries(1, 2))
	conn.ExpectAck(2)
	if st.LastID() != 2 || st.LogID() != "L" {
		t.Fatalf("store at %d of %q", st.LastID(), st.LogID())
	}
	conn.Send(frametest.Entries(2)) // a duplicate is still acked
	conn.ExpectAck(2)
}

// TestClientKeepsOrderAcrossDelayChanges: frames are applied by the
// reader itself while no delay is injected and by the applier goroutine
// while one is; switching between the two mid-stream, with frames sent
// without waiting for their acks, never reorders, drops or doubles one.
func TestClientKeepsOrderAcrossDelayChanges(t *testing.T) {
	st := store.NewMemory("")
	fm, c := startClientWith(t, st, Options{Faults: &switchable{}})
	conn, _ := fm.Accept()
	conn.Send(welcome("L", 1))
	const n = 300
	delays := []string{"0", "1ms-3ms", "0", "2ms"}
	go func() {
		for id := uint64(1); id <= n; id++ {
			if id%25 == 0 {
				d := delays[(id/25)%uint64(len(delays))]
				if _, err := c.ChangeFaults(frame.Faults{ReplicationDelay: &d}); err != nil {
					t.Error(err)
				}
			}
			conn.Send(frametest.Entries(id))
		}
	}()
	var last uint64
	for last < n {
		f, err := conn.Read()
		if err != nil {
			t.Fatalf("after ack %d: %v", last, err)
		}
		switch f.Type {
		case frame.TypeAck:
			if f.ID < last {
				t.Fatalf("ack %d after ack %d", f.ID, last)
			}
			last = f.ID
		case frame.TypeFaults: // the changes, reported
		default:
			t.Fatalf("unexpected %+v (a nack means a frame went out of order)", f)
		}
	}
	got, _ := st.Read(nil, 1, n+1, 1<<20)
	if len(got) != n {
		t.Fatalf("holds %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		if want := fmt.Sprintf("m%d", i+1); m.Message != want {
			t.Fatalf("message %d is %q, want %q", i+1, m.Message, want)
		}
	}
}

func TestClientAsksToResendAGap(t *testing.T) {
	st := store.NewMemory("")
	fm := startClient(t, st)
	conn, _ := fm.Accept()
	conn.Send(welcome("L", 1))
	conn.Send(frametest.Entries(1))
	conn.Expect(frame.TypeAck)
	conn.Send(frametest.Entries(3, 4))
	if nack := conn.Expect(frame.TypeNack); nack.From != 2 {
		t.Fatalf("nack from %d, want 2", nack.From)
	}
	conn.ExpectAck(1)
	conn.Send(frametest.Entries(2, 3, 4))
	conn.ExpectAck(4)
}

func TestClientResumesAfterDisconnect(t *testing.T) {
	st := store.NewMemory("")
	fm := startClient(t, st)
	conn, _ := fm.Accept()
	conn.Send(welcome("L", 1))
	conn.Send(frametest.Entries(1, 2))
	conn.Expect(frame.TypeAck)
	conn.Conn.CloseNow()
	conn, hello := fm.Accept()
	if hello.LogID != "L" || hello.LastID != 2 {
		t.Fatalf("hello after reconnect %+v, want log L from 2", hello)
	}
	conn.Send(welcome("L", 3))
	conn.Send(frametest.Entries(3))
	conn.ExpectAck(3)
}

// TestClientDropsASilentMaster: a master that keeps sending, heartbeats
// only, is followed for well past the silence limit (four heartbeat
// intervals); one that falls silent is dropped and redialed.
func TestClientDropsASilentMaster(t *testing.T) {
	st := store.NewMemory("")
	fm := startClient(t, st)
	conn, _ := fm.Accept()
	w := welcome("L", 1)
	w.HeartbeatMs = 50 // silent after 200 ms
	conn.Send(w)
	conn.Send(frametest.Entries(1))
	conn.ExpectAck(1)
	var start time.Time // when the last heartbeat was sent: the client read it later, so its silence began later
	for i := range 20 { // 600 ms, a heartbeat every 30 ms
		if i > 0 {
			time.Sleep(30 * time.Millisecond) // the master's pace, not a wait for the client
		}
		start = time.Now()
		conn.Send(frame.Frame{Type: frame.TypeHeartbeat, ID: uint64(i + 1)})
		if hb, err := conn.ReadAny(); err != nil || hb.Type != frame.TypeHeartbeat || hb.ID != uint64(i+1) {
			t.Fatalf("heartbeat %d answered with %+v %v", i+1, hb, err)
		}
	}
	if err := conn.ExpectClosed(5 * time.Second); err == nil {
		t.Fatal("no error from a closed connection")
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("dropped after %s of silence, before four heartbeat intervals", took)
	}
	if _, hello := fm.Accept(); hello.LastID != 1 {
		t.Fatalf("hello after the silence %+v, want from 1", hello)
	}
}

func TestClientDropsAnotherLog(t *testing.T) {
	st := store.NewMemory("OLD")
	for range 3 {
		_, _ = st.Append(store.Record{Message: "old"})
	}
	fm := startClient(t, st)
	conn, hello := fm.Accept()
	if hello.LogID != "OLD" || hello.LastID != 3 {
		t.Fatalf("hello %+v", hello)
	}
	conn.Send(welcome("NEW", 1))
	conn.Send(frametest.Entries(1))
	conn.ExpectAck(1)
	got, _ := st.Read(nil, 1, 10, 1<<20)
	if st.LogID() != "NEW" || len(got) != 1 || got[0].Message != "m1" {
		t.Fatalf("after resync: log %q holds %v", st.LogID(), got)
	}
}

func TestClientRedialsAfterRefusal(t *testing.T) {
	fm := startClient(t, store.NewMemory(""))
	conn, _ := fm.Accept()
	conn.Send(frame.Error("go away"))
	conn.Conn.CloseNow()
	conn, hello := fm.Accept()
	if hello.Name != "s1" || hello.LastID != 0 {
		t.Fatalf("hello after the refusal %+v", hello)
	}
	conn.Send(welcome("L", 1))
	conn.Send(frametest.Entries(1))
	conn.ExpectAck(1)
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	for attempt := range 40 {
		seen := map[time.Duration]bool{}
		for range 20 {
			d := backoff(attempt, lo, hi)
			if d < lo/2 || d > hi {
				t.Fatalf("attempt %d: backoff %s outside [%s, %s]", attempt, d, lo/2, hi)
			}
			seen[d] = true
		}
		// 20 draws from at least 50ms of nanoseconds: equal ones mean no jitter.
		if len(seen) < 15 {
			t.Fatalf("attempt %d: 20 backoffs took only %d values: not jittered", attempt, len(seen))
		}
	}
}
