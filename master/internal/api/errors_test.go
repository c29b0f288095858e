package api

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/replog/replog/master/internal/replication"
)

// TestUnmetWriteReply: the 504 of a write whose concern was not met names
// its ids and acks, and "dropped" when retention dropped it; the body is
// built in replyError alone.
func TestUnmetWriteReply(t *testing.T) {
	timeout := &replication.ConcernError{Acks: 2, Need: 3}
	dropped := &replication.RetainedError{ID: 4, Acks: 1, Need: 2}
	for _, c := range []struct {
		name string
		err  error
		want map[string]any
	}{
		{"timeout", &unmetError{first: 7, last: 7, acks: 2, err: timeout}, map[string]any{"id": uint64(7), "acks": 2}},
		{"batch", &unmetError{first: 7, last: 9, batch: true, acks: 2, err: timeout},
			map[string]any{"firstId": uint64(7), "lastId": uint64(9), "acks": 2}},
		{"repeat", &unmetError{first: 7, last: 7, acks: 2, duplicate: true, err: timeout},
			map[string]any{"id": uint64(7), "acks": 2, "duplicate": true}},
		{"dropped", &unmetError{first: 4, last: 4, acks: 1, err: dropped},
			map[string]any{"id": uint64(4), "acks": 1, "dropped": true}},
		{"wrapped", fmt.Errorf("append: %w", &unmetError{first: 4, last: 4, acks: 1, err: dropped}),
			map[string]any{"id": uint64(4), "acks": 1, "dropped": true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := replyError(c.err)
			if e.Status != http.StatusGatewayTimeout || !reflect.DeepEqual(e.Fields, c.want) {
				t.Fatalf("%d %v, want 504 %v", e.Status, e.Fields, c.want)
			}
		})
	}
}
