package frame

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestAccepts(t *testing.T) {
	for _, c := range []struct {
		v        int
		failover bool
		want     bool
	}{
		{1, false, true}, {2, false, true}, {0, false, false}, {3, false, false},
		{1, true, false}, {2, true, true}, {3, true, false},
	} {
		if got := Accepts(c.v, c.failover); got != c.want {
			t.Errorf("Accepts(%d, failover %v) = %v, want %v", c.v, c.failover, got, c.want)
		}
	}
	if Negotiate(1) != 1 || Negotiate(2) != 2 || Negotiate(7) != Version {
		t.Errorf("Negotiate: 1→%d 2→%d 7→%d", Negotiate(1), Negotiate(2), Negotiate(7))
	}
}

// v1Golden reads testdata/v1/name.json: a frame as the release before
// failover (protocol version 1) wrote it.
func v1Golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "v1", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}

// singleMaster's frames are what a master of this release without PEERS
// sends (and its secondaries answer), in epoch 1 with its history
// [[1,1]] and keys in its log, each with the version-1 frame of
// testdata/v1 a peer of version 1 must get instead.
func singleMasterFrames() map[string]Frame {
	yes := true
	one := []EpochStart{{1, 1}}
	hello := Hello("s1", RoleSecondary, "log-1", 42)
	hello.FaultsAPI, hello.Epoch, hello.LastEpoch, hello.Epochs = true, 1, 1, one
	return map[string]Frame{
		"hello":          hello,
		"hello-observer": Hello("watcher", RoleObserver, "", 0),
		"welcome": {Type: TypeWelcome, Version: Version, Leader: &yes, Epoch: 1, Epochs: one, Keep: 42,
			LogID: "log-1", LastID: 50, From: 43, MaxFrameBytes: 1 << 20, HeartbeatMs: 1000, FirstID: 3},
		"append": {Type: TypeAppend, Entries: []Entry{
			{ID: 43, Epoch: 1, Message: "a", Key: "order-17", At: 1764756000123},
			{ID: 44, Epoch: 1, Message: "b \"quoted\" \n é"},
			{ID: 45, Epoch: 1, Message: ""},
		}, CommitID: 44},
		"ack":       {Type: TypeAck, ID: 44, Epoch: 1},
		"nack":      Nack(45, "injected failure"),
		"heartbeat": {Type: TypeHeartbeat, ID: 7, Epoch: 1, FirstID: 3, LastID: 50, QuorumID: 49, CommitID: 49},
		"error":     Error("protocol version 9 not supported; this master speaks 1"),
	}
}

// TestSingleMasterSendsVersion1PeersVersion1Bytes: what a single master
// of this release sends a peer of the release before, and what a
// secondary of this release sends an old master once it speaks version 1,
// is byte for byte what that release sent, whatever the failover fields
// hold: the omission is by the peer's version.
func TestSingleMasterSendsVersion1PeersVersion1Bytes(t *testing.T) {
	for name, f := range singleMasterFrames() {
		t.Run(name, func(t *testing.T) {
			got, err := EncodeFor(f, 1)
			if err != nil {
				t.Fatal(err)
			}
			if want := v1Golden(t, name); !bytes.Equal(got, want) {
				t.Fatalf("for version 1:\n got %s\nwant %s", got, want)
			}
			if f.Type == TypeAppend {
				if got := AppendEntriesFor(nil, f.Entries, 1); !bytes.Equal(got, v1Golden(t, name)) {
					t.Fatalf("AppendEntriesFor version 1: %s", got)
				}
			}
			// A peer of this release gets them all.
			all, err := EncodeFor(f, Version)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := Decode(all); err != nil || !reflect.DeepEqual(back, f) {
				t.Fatalf("for version %d: %s decodes to %+v %v", Version, all, back, err)
			}
		})
	}
}

// TestDecodesVersion1Frames: this release reads every frame of the
// release before (a secondary of this release behind an old master), and
// reads what they leave out as a single master's epoch 1.
func TestDecodesVersion1Frames(t *testing.T) {
	for name, f := range singleMasterFrames() {
		t.Run(name, func(t *testing.T) {
			got, err := Decode(v1Golden(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if want := asVersion1(f); !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n %+v\nwant %+v", got, want)
			}
		})
	}
	w, err := Decode(v1Golden(t, "welcome"))
	if err != nil {
		t.Fatal(err)
	}
	if !w.Leads() || !reflect.DeepEqual(w.History(), []EpochStart{{1, 1}}) {
		t.Fatalf("an old master's welcome: leads %v, history %v; want a leader of [[1,1]]", w.Leads(), w.History())
	}
	if _, ok := decodeAppend(v1Golden(t, "append")); !ok {
		t.Fatal("an old master's append is not on the hand decoder's path")
	}
}

// asVersion1 is f as a version-1 peer sees it: without the fields of
// version 2, in the frame and in its entries.
func asVersion1(f Frame) Frame {
	f = f.version1()
	if f.Entries != nil {
		f.Entries = slices.Clone(f.Entries)
		for i, e := range f.Entries {
			f.Entries[i] = Entry{ID: e.ID, Message: e.Message}
		}
	}
	return f
}

// TestVersion1GetsOnlyVersion1Fields: EncodeFor(…, 1) writes no key the
// release before did not know, for any frame with every field set — a
// field added to Frame or Entry later is caught here until version1
// leaves it out.
func TestVersion1GetsOnlyVersion1Fields(t *testing.T) {
	v1Keys := []string{"type", "version", "name", "role", "logId", "lastId", "from", "maxFrameBytes",
		"heartbeatMs", "firstId", "faultsApi", "faults", "entries", "id", "error"}
	var f Frame
	fillAll(reflect.ValueOf(&f).Elem())
	f.Role = RoleSecondary
	for _, typ := range []Type{TypeHello, TypeWelcome, TypeAppend, TypeAck, TypeNack, TypeHeartbeat, TypeFaults, TypeError} {
		f.Type = typ
		b, err := EncodeFor(f, 1)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(b, &fields); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		for k := range fields {
			if !slices.Contains(v1Keys, k) {
				t.Errorf("%s for version 1 has %q: %s", typ, k, b)
			}
		}
		if typ == TypeAppend && !strings.Contains(string(b), `[{"id":1,"message":"x"}]`) {
			t.Errorf("append for version 1: %s", b)
		}
	}
}

// TestVersion1IsRefusedWhatItLacks: a frame or role version 1 does not
// have is an error, never a frame an old peer would misread.
func TestVersion1IsRefusedWhatItLacks(t *testing.T) {
	no := false
	var v2Only []Frame
	for _, f := range failoverFrames() {
		if f.Type != TypeHello && f.Type != TypeWelcome && f.Type != TypeAck && f.Type != TypeHeartbeat {
			v2Only = append(v2Only, f)
		}
	}
	for _, f := range append(v2Only,
		Frame{Type: TypeHello, Version: 2, Name: "m2", Role: RoleStandby},
		Frame{Type: TypeWelcome, Version: 2, Leader: &no, LogID: "L"},
		Frame{Type: TypePulled, Entries: []Entry{{ID: 1, Message: "x"}}},
	) {
		if b, err := EncodeFor(f, 1); err == nil {
			t.Errorf("%s for version 1: %s", f.Type, b)
		}
	}
}

// fillAll sets every field of v, recursively, to something other than
// its zero value.
func fillAll(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint64:
		v.SetUint(1)
	case reflect.Float64:
		v.SetFloat(0.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillAll(v.Index(0))
	case reflect.Struct:
		for i := range v.NumField() {
			fillAll(v.Field(i))
		}
	default:
		panic("fillAll: " + v.Kind().String())
	}
}
