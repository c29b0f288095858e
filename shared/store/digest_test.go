package store

import "testing"

// TestDigestIsStable: digests are written into durable logs and compared
// across nodes and releases, so their values are pinned (FNV-1a 64).
func TestDigestIsStable(t *testing.T) {
	for _, c := range []struct {
		name string
		got  uint64
		want uint64
	}{
		{"empty", Digest(""), 0xcbf29ce484222325},
		{"a", Digest("a"), 0xaf63dc4c8601ec8c},
		{"batch [a]", DigestBatch([]string{"a"}), 0xc461c5b3fb9c41c9},
		{"batch [ab c]", DigestBatch([]string{"ab", "c"}), 0xae4928ddef5be756},
	} {
		if c.got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if DigestBatch([]string{"a"}) == Digest("a") {
		t.Error("a batch of one has its message's digest: a key reused across them would not be caught")
	}
	if DigestBatch([]string{"ab", "c"}) == DigestBatch([]string{"a", "bc"}) {
		t.Error("batches that split the same text differently have one digest")
	}
}
