package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/poll"
)

// TestAppendRefusedWhenTooManyWritesWait: with MaxWaitingWrites writes
// waiting, the next write that would wait gets a 503 and uses no id; a
// w=1 write is served; once the waits end, w=2 is taken again.
func TestAppendRefusedWhenTooManyWritesWait(t *testing.T) {
	m := newMaster(t, Options{MaxWaitingWrites: 2})
	s1 := m.secondary("s1")
	replies := make(chan answer, 2)
	for range 2 {
		go func() { replies <- m.postJSON(`{"message":"a","writeConcern":2}`) }()
	}
	poll.Check(t, 5*time.Second, func() error {
		if n := m.server.hub.Waiting(); n != 2 {
			return fmt.Errorf("%d writes waiting, want 2", n)
		}
		return nil
	})
	a := m.postJSON(`{"message":"b","writeConcern":2}`)
	check(t, "a third w=2", a, 503, nil)
	if msg, _ := a.body["error"].(string); !strings.Contains(msg, "MAX_WAITING_WRITES") {
		t.Fatalf("the refusal does not say which limit: %v", a.body)
	}
	if m.store.LastID() != 2 {
		t.Fatalf("the refused write used an id: last id %d", m.store.LastID())
	}
	check(t, "a keyed third w=2", m.postJSON(`{"message":"k","writeConcern":2}`, "Idempotency-Key", "k1"), 503, nil)
	check(t, "w=1 meanwhile", m.postJSON(`{"message":"c"}`), 201, map[string]any{"id": 3.0})

	s1.ExpectIDs(1, 2) // the third waits for an ack: at most two frames unacked
	s1.Send(frametest.Ack(2))
	s1.ExpectIDs(3, 3)
	s1.Send(frametest.Ack(3))
	for range 2 {
		check(t, "a waiting w=2 after the ack", <-replies, 201, map[string]any{"acks": 2.0})
	}
	reply := make(chan answer, 1)
	go func() { reply <- m.postJSON(`{"message":"k","writeConcern":2}`, "Idempotency-Key", "k1") }()
	s1.ExpectIDs(4, 4)
	s1.Send(frametest.Ack(4))
	check(t, "the keyed write retried, once there is room", <-reply, 201, map[string]any{"id": 4.0, "acks": 2.0})
}
