package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/store"
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

// TestSessionSpeaksThePeersVersion: every frame a session writes is for
// the version its peer's hello negotiated. A version-1 peer's welcome,
// appends and heartbeats have the fields, in the order, of the release
// before's (shared/frame/testdata/v1), and its welcome says version 1,
// whatever the log's entries carry; a version-2 peer's welcome says 2 and
// its entries carry their epoch (above 1) and a keyed append's key and at.
func TestSessionSpeaksThePeersVersion(t *testing.T) {
	at := time.UnixMilli(1764756000123)
	for _, c := range []struct {
		version int
		want    string
	}{
		{1, `{"type":"append","entries":[{"id":1,"message":"a"},{"id":2,"message":"b"},{"id":3,"message":"c"}]}`},
		{2, `{"type":"append","entries":[{"id":1,"message":"a"},{"id":2,"epoch":2,"message":"b","key":"order-17","at":1764756000123,"digest":1},{"id":3,"epoch":2,"message":"c"}]}`},
	} {
		t.Run(fmt.Sprintf("version %d", c.version), func(t *testing.T) {
			st, err := store.OpenDisk(t.TempDir(), store.DiskOptions{NewLogID: "L"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if _, err := st.Append(store.Record{Message: "a"},
				store.Record{Message: "b", Epoch: 2, Key: "order-17", Digest: 1, Time: at},
				store.Record{Message: "c", Epoch: 2}); err != nil {
				t.Fatal(err)
			}
			f := newFixtureOver(t, st, Options{HeartbeatInterval: 20 * time.Millisecond})
			p := f.dial(frame.Frame{Type: frame.TypeHello, Version: c.version, Name: "s1", Role: frame.RoleSecondary, LogID: "L"})
			raw := readRaw(t, p, frame.TypeWelcome, frame.TypeAppend, frame.TypeHeartbeat)
			if c.version == 1 {
				for typ, b := range raw {
					if want := v1Shape(t, typ); keysOf(t, b) != want {
						t.Errorf("%s to a version-1 peer: %s, want the keys of the release before's %s", typ, b, want)
					}
				}
			}
			if raw[frame.TypeAppend] != c.want {
				t.Errorf("append to a version-%d peer:\n got %s\nwant %s", c.version, raw[frame.TypeAppend], c.want)
			}
			var w frame.Frame
			if err := json.Unmarshal([]byte(raw[frame.TypeWelcome]), &w); err != nil || w.Version != c.version {
				t.Errorf("welcome %s (%v): want version %d", raw[frame.TypeWelcome], err, c.version)
			}
		})
	}
}

// readRaw reads frames from p until it has one of each of types, and
// returns the first of each as the master wrote it.
func readRaw(t *testing.T, p *frametest.Peer, types ...frame.Type) map[frame.Type]string {
	t.Helper()
	got := map[frame.Type]string{}
	for len(got) < len(types) {
		ctx, cancel := context.WithTimeout(context.Background(), frametest.Timeout)
		_, b, err := p.Conn.Read(ctx)
		cancel()
		if err != nil {
			t.Fatalf("waiting for %v, got %v: %v", types, got, err)
		}
		f, err := frame.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if _, seen := got[f.Type]; !seen && slices.Contains(types, f.Type) {
			got[f.Type] = string(b)
		}
	}
	return got
}

// v1Shape is the keys, in order, of the release before's frame of typ
// (shared/frame/testdata/v1), the entries' included.
func v1Shape(t *testing.T, typ frame.Type) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "frame", "testdata", "v1", string(typ)+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return keysOf(t, string(b))
}

// keysOf lists the object keys of the JSON text s in the order they
// appear, nested objects' too, each once: "type,entries,id,message".
func keysOf(t *testing.T, s string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	var keys []string
	var inObject []bool // per open container: an object, whose next string is a key
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				inObject = append(inObject, true)
				expectKey = true
				continue
			case '[':
				inObject = append(inObject, false)
			default:
				inObject = inObject[:len(inObject)-1]
			}
		case string:
			if expectKey && !slices.Contains(keys, v) {
				keys = append(keys, v)
			}
			if expectKey {
				expectKey = false
				continue
			}
		}
		expectKey = len(inObject) > 0 && inObject[len(inObject)-1]
	}
	return strings.Join(keys, ",")
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
