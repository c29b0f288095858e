package replication

import (
	"context"
	"testing"
	"time"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
)

// TestHubServesVersion1Secondary: a master of this release serves a
// secondary of the release before (protocol version 1), frame for frame
// as that release did, and counts its acks: a rolling upgrade that starts
// with the master loses nothing.
func TestHubServesVersion1Secondary(t *testing.T) {
	f := newFixture(t, Options{})
	f.append("a", "b")
	p := f.dial(frame.Frame{Type: frame.TypeHello, Version: 1, Name: "s1", Role: frame.RoleSecondary, LogID: "L", LastID: 1})
	if w := p.Expect(frame.TypeWelcome); w.From != 2 {
		t.Fatalf("welcome %+v, want from 2", w)
	}
	const want = `{"type":"append","entries":[{"id":2,"message":"b"}]}`
	if got := readRawAppend(t, p); got != want {
		t.Fatalf("a version-1 secondary got %s, want %s", got, want)
	}
	p.SendRaw(`{"type":"ack","id":2}`)
	select {
	case err := <-f.await(2, 2, frametest.Timeout):
		if err != nil {
			t.Fatalf("the version-1 secondary's ack was not counted: %v", err)
		}
	case <-time.After(2 * frametest.Timeout):
		t.Fatal("Await did not return")
	}
}

// readRawAppend returns the next append frame as the master wrote it.
func readRawAppend(t *testing.T, p *frametest.Peer) string {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), frametest.Timeout)
		_, b, err := p.Conn.Read(ctx)
		cancel()
		if err != nil {
			t.Fatalf("waiting for an append: %v", err)
		}
		if f, err := frame.Decode(b); err == nil && f.Type == frame.TypeAppend {
			return string(b)
		}
	}
}
