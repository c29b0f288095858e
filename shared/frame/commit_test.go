package frame

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestCommitIDTravelsToVersion2Peers: an append or heartbeat with a
// commit id carries it to a version-2 peer, the append on the hand-written
// path in the bytes encoding/json writes, and reads back the same.
func TestCommitIDTravelsToVersion2Peers(t *testing.T) {
	for _, f := range []Frame{
		{Type: TypeAppend, Entries: keyedEntries(), CommitID: 41},
		{Type: TypeHeartbeat, ID: 3, Epoch: 4, LastID: 42, CommitID: 41},
	} {
		b, err := EncodeFor(f, Version)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(`"commitId":41`)) {
			t.Fatalf("%s for version 2 has no commit id: %s", f.Type, b)
		}
		std, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, std) {
			t.Fatalf("%s\n wrote %s\n encoding/json %s", f.Type, b, std)
		}
		back, err := Decode(b)
		if err != nil || back.CommitID != 41 {
			t.Fatalf("%s reads back commit id %d (%v): %s", f.Type, back.CommitID, err, b)
		}
	}
	if b := AppendEntriesCommitFor(nil, keyedEntries(), Version, 41); !bytes.HasSuffix(b, []byte(`],"commitId":41}`)) {
		t.Fatalf("AppendEntriesCommitFor version 2: %s", b)
	}
}

// TestNoCommitIDWritesTheFramesOfBefore: without a commit id (a single
// master without CLUSTER_SIZE), and for a version-1 peer whatever it is,
// an append is byte for byte what AppendEntriesFor wrote before commit
// ids existed: the single master's hot path is unchanged.
func TestNoCommitIDWritesTheFramesOfBefore(t *testing.T) {
	entries := keyedEntries()
	for _, v := range []int{1, 2} {
		if got, want := AppendEntriesCommitFor(nil, entries, v, 0), AppendEntriesFor(nil, entries, v); !bytes.Equal(got, want) {
			t.Errorf("version %d, commit 0:\n %s\nwant %s", v, got, want)
		}
	}
	if got, want := AppendEntriesCommitFor(nil, entries, 1, 41), AppendEntriesFor(nil, entries, 1); !bytes.Equal(got, want) {
		t.Errorf("version 1, commit 41:\n %s\nwant %s", got, want)
	}
	hb, err := EncodeFor(Frame{Type: TypeHeartbeat, ID: 3, LastID: 42, CommitID: 41}, 1)
	if err != nil || bytes.Contains(hb, []byte("commitId")) {
		t.Errorf("heartbeat for version 1: %s %v", hb, err)
	}
}
