package api

import (
	"strings"
	"testing"

	"github.com/replog/replog/shared/frame/frametest"
)

func TestBatchAppend(t *testing.T) {
	lim := Options{Limits: Limits{MaxMessageBytes: 10, MaxBatchMessages: 3, ClusterSize: 3}, MaxBatchBytes: 200}
	cases := []struct {
		name   string
		body   string
		status int
		want   map[string]any
	}{
		{"created", `{"messages":["a","b","c"]}`, 201, map[string]any{"firstId": 1.0, "lastId": 3.0, "acks": 1.0}},
		{"both message and messages", `{"message":"a","messages":["b"]}`, 400,
			map[string]any{"error": "give either message or messages (a batch), not both"}},
		{"empty", `{"messages":[]}`, 400, map[string]any{"error": "messages must hold at least one message"}},
		{"not an array", `{"messages":"a"}`, 400, map[string]any{"error": "messages must be an array of strings"}},
		{"a non-string", `{"messages":["a",2]}`, 400, map[string]any{"error": "messages[1] must be a string, got 2"}},
		{"an empty string", `{"messages":["a","b","","d"]}`, 400, nil},
		{"an empty string within the bound", `{"messages":["a","","c"]}`, 400, map[string]any{"error": "messages[1] is empty"}},
		{"too many", `{"messages":["a","b","c","d"]}`, 400,
			map[string]any{"error": "messages holds 4 messages; at most 3 in one batch (MAX_BATCH_MESSAGES)"}},
		{"an element too large", `{"messages":["a","12345678901"]}`, 413,
			map[string]any{"error": "messages[1] is 11 bytes; the limit is 10 (MAX_MESSAGE_BYTES)"}},
		{"a body too large", `{"messages":["` + strings.Repeat("x", 300) + `"]}`, 413, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMaster(t, lim)
			check(t, c.name, m.postJSON(c.body), c.status, c.want)
			if last := m.store.LastID(); c.status != 201 && last != 0 {
				t.Fatalf("a refused batch left id %d in the log", last)
			}
		})
	}
}

func TestBatchConsecutiveIDsAndOrder(t *testing.T) {
	m := newMaster(t, Options{Limits: Limits{MaxBatchMessages: 1000}, MaxBatchBytes: 1 << 20})
	check(t, "one", m.postJSON(`{"message":"a"}`), 201, map[string]any{"id": 1.0})
	check(t, "batch", m.postJSON(`{"messages":["b","c","d"]}`), 201, map[string]any{"firstId": 2.0, "lastId": 4.0})
	check(t, "one more", m.postJSON(`{"message":"e"}`), 201, map[string]any{"id": 5.0})
	got, err := m.store.Read(nil, 1, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range got {
		msgs = append(msgs, e.Message)
	}
	if strings.Join(msgs, ",") != "a,b,c,d,e" {
		t.Fatalf("the log holds %v", msgs)
	}
}

func TestBatchIdempotencyKey(t *testing.T) {
	m := newMaster(t, Options{Limits: Limits{MaxBatchMessages: 10}, MaxBatchBytes: 1 << 20})
	key := []string{"Idempotency-Key", "batch-1"}
	check(t, "first", m.postJSON(`{"messages":["a","b"]}`, key...), 201, map[string]any{"firstId": 1.0, "lastId": 2.0})
	check(t, "repeat", m.postJSON(`{"messages":["a","b"]}`, key...), 200,
		map[string]any{"firstId": 1.0, "lastId": 2.0, "acks": 1.0, "duplicate": true})
	check(t, "another order", m.postJSON(`{"messages":["b","a"]}`, key...), 422, nil)
	check(t, "another batch", m.postJSON(`{"messages":["a","b","c"]}`, key...), 422, nil)
	check(t, "one message", m.postJSON(`{"message":"a"}`, key...), 422, nil)
	if m.store.LastID() != 2 {
		t.Fatalf("repeats appended: last id %d", m.store.LastID())
	}
}

func TestBatchWriteConcernAndTimeout(t *testing.T) {
	m := newMaster(t, Options{Limits: Limits{MaxBatchMessages: 10}, MaxBatchBytes: 1 << 20})
	s1 := m.secondary("s1")
	reply := make(chan answer, 1)
	go func() { reply <- m.postJSON(`{"messages":["a","b","c"],"writeConcern":2}`) }()
	s1.ExpectIDs(1, 3)
	s1.Send(frametest.Ack(2)) // not yet the last id: the batch waits
	select {
	case a := <-reply:
		t.Fatalf("the batch answered before its last id was held: %+v", a)
	case <-timeAfter100ms():
	}
	s1.Send(frametest.Ack(3))
	check(t, "w=2 batch", <-reply, 201, map[string]any{"firstId": 1.0, "lastId": 3.0, "acks": 2.0})
	check(t, "w=3 batch", m.postJSON(`{"messages":["d","e"],"writeConcern":3,"timeoutMs":50}`), 504,
		map[string]any{"firstId": 4.0, "lastId": 5.0, "acks": 1.0})
}

func TestBatchReadOnly(t *testing.T) {
	m := newMaster(t, Options{Quorum: 2, Limits: Limits{MaxBatchMessages: 10, ClusterSize: 3}, MaxBatchBytes: 1 << 20})
	check(t, "read-only", m.postJSON(`{"messages":["a","b"]}`), 503, map[string]any{"readOnly": true})
	if m.store.LastID() != 0 {
		t.Fatal("a refused batch was appended")
	}
}
