package replication

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/poll"
)

// TestHubRefusesPeersBeyondTheLimit: with MaxPeers sessions on
// /replicate, observers included, the next peer is refused with a 503
// before the upgrade; the peers already there keep streaming, and a place
// freed is taken again.
func TestHubRefusesPeersBeyondTheLimit(t *testing.T) {
	f := newFixture(t, Options{MaxPeers: 2})
	s1 := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	s1.Expect(frame.TypeWelcome)
	obs := f.dial(frame.Hello("watch", frame.RoleObserver, "", 0))
	obs.Expect(frame.TypeWelcome)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, f.url, nil)
	if err == nil {
		conn.CloseNow()
		t.Fatal("a third peer was let in with MaxPeers 2")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("the third peer: %v (response %v), want a 503", err, resp)
	}
	f.append("a")
	s1.ExpectIDs(1, 1)

	obs.Conn.Close(websocket.StatusNormalClosure, "")
	poll.Check(t, 5*time.Second, func() error {
		conn, _, err := websocket.Dial(ctx, f.url, nil)
		if err != nil {
			return fmt.Errorf("the place the observer left is not taken again: %w", err)
		}
		conn.CloseNow()
		return nil
	})
}

// TestHubDropsAPeerThatSaysNothing: a peer that keeps its socket but
// sends no hello is dropped after HelloTimeout, and takes no place.
func TestHubDropsAPeerThatSaysNothing(t *testing.T) {
	f := newFixture(t, Options{HelloTimeout: 100 * time.Millisecond, MaxPeers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, f.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if _, _, err := conn.Read(ctx); ctx.Err() != nil {
		t.Fatalf("a silent peer is still connected after 5 s: %v", err)
	}
	// Its place is free again for a real secondary.
	poll.Check(t, 5*time.Second, func() error {
		if n := f.hub.conns.Load(); n != 0 {
			return fmt.Errorf("the silent peer's place was not given back: %d peers", n)
		}
		return nil
	})
	s1 := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	s1.Expect(frame.TypeWelcome)
}

// TestHubDropsAPeerThatNeverReads: a secondary that takes no frame is
// dropped after WriteTimeout, so it holds no goroutine or buffer for
// ever, and shows as disconnected.
func TestHubDropsAPeerThatNeverReads(t *testing.T) {
	f := newFixture(t, Options{WriteTimeout: 200 * time.Millisecond, Window: 1 << 20, MaxFrames: 1 << 10,
		BatchBytes: 1 << 20})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	// Enough to fill both sockets' buffers many times over.
	big := strings.Repeat("x", 64<<10)
	for range 400 {
		f.append(big)
	}
	poll.Check(t, 10*time.Second, func() error {
		if st := f.hub.Secondaries(); len(st) != 1 || st[0].Connected {
			return fmt.Errorf("a secondary that never reads is still connected: %+v", st)
		}
		return nil
	})
}
