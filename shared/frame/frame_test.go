package frame

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	frames := []Frame{
		Hello("s1", RoleSecondary, "log-1", 42),
		Hello("watcher", RoleObserver, "", 0),
		{Type: TypeWelcome, Version: Version, LogID: "log-1", LastID: 50, From: 43, MaxFrameBytes: 1 << 20},
		{Type: TypeAppend, Entries: []Entry{{ID: 7, Message: "a"}, {ID: 8, Message: "b \"quoted\" \n é"}}},
		ack(12),
		Nack(3, "injected failure"),
		Error("protocol version 9 not supported"),
		{Type: TypeHeartbeat, ID: 5},
		{Type: TypeAppend, Entries: keyedEntries()},
		{Type: TypePulled, Entries: keyedEntries()},
	}
	frames = append(frames, failoverFrames()...)
	for _, want := range frames {
		t.Run(string(want.Type), func(t *testing.T) {
			b, err := Encode(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip of %s:\n got %+v\nwant %+v", b, got, want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string]string{
		"not json":            `hello`,
		"no type":             `{"id":1}`,
		"unknown type":        `{"type":"gossip"}`,
		"hello no version":    `{"type":"hello","name":"s1"}`,
		"hello no name":       `{"type":"hello","version":1}`,
		"hello bad role":      `{"type":"hello","version":1,"name":"s1","role":"boss"}`,
		"append empty":        `{"type":"append","entries":[]}`,
		"append id zero":      `{"type":"append","entries":[{"id":0,"message":"x"}]}`,
		"append out of order": `{"type":"append","entries":[{"id":2,"message":"x"},{"id":1,"message":"y"}]}`,
		"append with a gap":   `{"type":"append","entries":[{"id":1,"message":"x"},{"id":3,"message":"y"}]}`,
		"nack without from":   `{"type":"nack"}`,
		"ack negative":        `{"type":"ack","id":-1}`,
		"welcome no log id":   `{"type":"welcome","from":1}`,
		"error without text":  `{"type":"error"}`,
		"message not string":  `{"type":"append","entries":[{"id":1,"message":5}]}`,
	}
	for name, in := range failoverRejects {
		cases[name] = in
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(in)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%s) = %v, want ErrMalformed", in, err)
			}
		})
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `"\`, "\x00\x1f\x7f", "tab\there", "é ☃ 𝄞", "bad \xff utf8", "\u2028\u2029", "<&>"} {
		got := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: not JSON: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("AppendString(%q) decodes to %q, encoding/json gives %q", s, back, wantBack)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", strings.Repeat("é", 10)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var back string
		if err := json.Unmarshal(AppendString(nil, s), &back); err != nil {
			t.Fatalf("not JSON for %q: %v", s, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("%q decodes to %q, want %q", s, back, wantBack)
		}
		if n := len(AppendEntry(nil, Entry{ID: ^uint64(0), Message: s})); n > EncodedEntrySize(len(s)) {
			t.Fatalf("entry of %d bytes encodes to %d > bound %d", len(s), n, EncodedEntrySize(len(s)))
		}
		keyed := Entry{ID: ^uint64(0), Epoch: ^uint64(0), Message: s, Key: s, At: math.MinInt64}
		if n := len(appendEntry(nil, keyed, true)); n > EncodedEntrySize(2*len(s)) {
			t.Fatalf("keyed entry of 2×%d bytes encodes to %d > bound %d", len(s), n, EncodedEntrySize(2*len(s)))
		}
	})
}

// TestAppendAck: the hand-written ack is what encoding/json writes, and
// decodes back through the hand-written path.
func TestAppendAck(t *testing.T) {
	for _, id := range []uint64{1, 9, 10, 12345, ^uint64(0)} {
		want, err := json.Marshal(ack(id))
		if err != nil {
			t.Fatal(err)
		}
		got := AppendAck(nil, id)
		if string(got) != string(want) {
			t.Fatalf("AppendAck(%d) = %s, want %s", id, got, want)
		}
		if f, ok := decodeAck(got); !ok || !reflect.DeepEqual(f, ack(id)) {
			t.Fatalf("decodeAck(%s) = %+v, %v", got, f, ok)
		}
		for _, epoch := range []uint64{0, 1, 42, ^uint64(0)} {
			ack := Frame{Type: TypeAck, ID: id, Epoch: epoch}
			want, err := json.Marshal(ack)
			if err != nil {
				t.Fatal(err)
			}
			got := AppendAckEpoch(nil, id, epoch)
			if string(got) != string(want) {
				t.Fatalf("AppendAckEpoch(%d, %d) = %s, want %s", id, epoch, got, want)
			}
			if f, ok := decodeAck(got); !ok || !reflect.DeepEqual(f, ack) {
				t.Fatalf("decodeAck(%s) = %+v, %v", got, f, ok)
			}
		}
	}
}

// BenchmarkDecodeAck: the master decodes one ack per frame from each
// secondary.
func BenchmarkDecodeAck(b *testing.B) {
	data := []byte(`{"type":"ack","id":123456789}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeAck: the secondary writes one ack per frame it applies,
// with AppendAck; Encode (encoding/json) is what it used before.
func BenchmarkEncodeAck(b *testing.B) {
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Encode(ack(123456789)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendAck", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = AppendAck(buf[:0], 123456789)
		}
	})
}

func BenchmarkAppendEntries(b *testing.B) {
	entries := make([]Entry, 64)
	for i := range entries {
		entries[i] = Entry{ID: uint64(i + 1), Message: strings.Repeat("x", 100)}
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEntries(buf[:0], entries)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeAppend(b *testing.B) {
	entries := make([]Entry, 64)
	for i := range entries {
		entries[i] = Entry{ID: uint64(i + 1), Message: strings.Repeat("x", 100)}
	}
	buf := AppendEntries(nil, entries)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// failoverBatch is the benchmarks' 64 entries of 100 bytes as a leader
// of the failover protocol sends them: an epoch on each, an
// Idempotency-Key on each (the costliest case).
func failoverBatch() []Entry {
	entries := make([]Entry, 64)
	for i := range entries {
		entries[i] = Entry{ID: uint64(i + 1), Epoch: 3, Message: strings.Repeat("x", 100),
			Key: "0b6f8a4e-3c55-4f0e-9d1c-" + strings.Repeat("a", 12), At: 1764756000123 + int64(i)}
	}
	return entries
}

func BenchmarkAppendEntriesFailover(b *testing.B) {
	entries := failoverBatch()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEntries(buf[:0], entries)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeAppendFailover(b *testing.B) {
	buf := AppendEntries(nil, failoverBatch())
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeFrame: whatever a peer sends, Decode returns a frame or an
// ErrMalformed, never a panic; a frame it accepts encodes and decodes
// back to itself, with Encode (the hand encoder, for appends) as with
// encoding/json.
func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range []Frame{
		Hello("s1", RoleSecondary, "log-1", 42),
		Hello("watch", RoleObserver, "", 0),
		{Type: TypeWelcome, Version: Version, LogID: "L", LastID: 9, From: 3, MaxFrameBytes: 1 << 20, HeartbeatMs: 1000},
		{Type: TypeAppend, Entries: []Entry{{ID: 7, Message: "a"}, {ID: 8, Message: "b \"q\" \n é \u2028"}}},
		ack(12), Nack(3, "injected"), Error("no"), {Type: TypeHeartbeat, ID: 5},
		{Type: TypeAppend, Entries: keyedEntries()}, {Type: TypePulled, Entries: keyedEntries()},
		{Type: TypeAck, ID: 12, Epoch: 3},
	} {
		b, err := Encode(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"type":"faults","faults":{"replicationDelay":"10ms-1s","failRate":0.5,"cutOff":true}}`))
	f.Add([]byte(`{"type":"append","entries":[{"id":1,"message":"\ud800"}]}`))
	f.Add([]byte(`{"type":"ack","id":1,"entries":[]}`))
	for _, fr := range failoverFrames() {
		b, err := Encode(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, in := range failoverRejects {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%q: an error that is not ErrMalformed: %v", data, err)
			}
			return
		}
		b, err := Encode(fr)
		if err != nil {
			t.Fatalf("%q decoded to %+v, which does not encode: %v", data, fr, err)
		}
		again, err := Decode(b)
		if err != nil || !reflect.DeepEqual(again, fr) {
			t.Fatalf("round trip of %q: %+v, then %+v %v", data, fr, again, err)
		}
		// Encode writes appends with the hand encoder; encoding/json must
		// agree with it.
		std, err := json.Marshal(fr)
		if err != nil {
			t.Fatal(err)
		}
		if viaJSON, err := Decode(std); err != nil || !reflect.DeepEqual(viaJSON, fr) {
			t.Fatalf("%q: encoding/json's %q decodes to %+v %v", data, std, viaJSON, err)
		}
		// Written for a version-1 peer: a valid frame without what version
		// 2 added, or a refusal.
		if old, err := EncodeFor(fr, 1); err == nil {
			if back, err := Decode(old); err != nil || !reflect.DeepEqual(back, asVersion1(fr)) {
				t.Fatalf("%q for version 1 is %q, which decodes to %+v %v", data, old, back, err)
			}
		}
	})
}

// TestDecodeAppendFastPath: the frames the master writes take the hand
// decoder (not a silent fallback to encoding/json), short escapes
// included, and give what encoding/json gives.
func TestDecodeAppendFastPath(t *testing.T) {
	for _, msgs := range [][]string{
		{"a"}, {"plain", "two"}, {`q"uote`, `back\slash`, "new\nline\ttab\r", "é ☃ 𝄞", "", "{brace}"},
	} {
		entries := make([]Entry, len(msgs))
		for i, m := range msgs {
			entries[i] = Entry{ID: uint64(1<<40 + i), Message: m}
		}
		assertFastPath(t, AppendEntries(nil, entries))
	}
	assertFastPath(t, AppendEntries(nil, keyedEntries()))
	assertFastPath(t, AppendPulled(nil, keyedEntries()))
	assertFastPath(t, AppendEntriesCommit(nil, keyedEntries(), 41))
	// What it leaves to encoding/json.
	for _, in := range []string{
		`{"type":"append","entries":[{"id":1,"message":"\u00e9"}]}`,
		`{"type":"append","entries":[{"id":01,"message":"x"}]}`,
		`{"type":"append","entries":[{"id":18446744073709551616,"message":"x"}]}`,
		`{"type":"append","entries":[{"message":"x","id":1}]}`,
		`{"type":"append","entries":[{"id":1,"message":"x"}] }`,
		"{\"type\":\"append\",\"entries\":[{\"id\":1,\"message\":\"\xff\"}]}",
		"{\"type\":\"append\",\"entries\":[{\"id\":1,\"message\":\"a\x01\"}]}",
		`{"type":"append","entries":[{"id":1,"epoch":01,"message":"x"}]}`,
		`{"type":"append","entries":[{"id":1,"message":"x","epoch":1}]}`,
		`{"type":"append","entries":[{"id":1,"message":"x","key":"k"}]}`,
		`{"type":"append","entries":[{"id":1,"message":"x","at":5,"key":"k"}]}`,
		`{"type":"append","entries":[{"id":1,"message":"x","key":"k","at":-5}]}`,
		`{"type":"append","entries":[{"id":1,"message":"x","key":"k","at":9223372036854775808}]}`,
		`{"type":"append","entries":[{"id":1,"message":"x","key":"\u00e9","at":5}]}`,
		`{"type":"pulled","entries":[{"id":1,"message":"x"}] }`,
		`{"type":"append","entries":[{"id":1,"message":"x"}],"commitId":0}`,
		`{"type":"append","entries":[{"id":1,"message":"x"}],"commitId":01}`,
		`{"type":"append","entries":[{"id":1,"message":"x"}],"commitId":1,"x":1}`,
		`{"type":"append","commitId":1,"entries":[{"id":1,"message":"x"}]}`,
	} {
		if f, ok := decodeAppend([]byte(in)); ok {
			t.Errorf("%s: taken by the hand decoder as %+v", in, f)
		}
	}
}

// assertFastPath: data takes the hand decoder and gives what
// encoding/json gives.
func assertFastPath(t *testing.T, data []byte) {
	t.Helper()
	fast, ok := decodeAppend(data)
	if !ok {
		t.Fatalf("%s: not taken by the hand decoder", data)
	}
	std, err := decodeJSON(data)
	if err != nil || !reflect.DeepEqual(fast, std) {
		t.Fatalf("%s: hand decoder %+v, encoding/json %+v %v", data, fast, std, err)
	}
}

// keyedEntries are entries of the failover protocol: epochs, some with
// an Idempotency-Key, one escaped.
func keyedEntries() []Entry {
	return []Entry{
		{ID: 40, Epoch: 3, Message: "a"},
		{ID: 41, Epoch: 3, Message: "b", Key: "order-17", At: 1764756000123},
		{ID: 42, Epoch: 4, Message: "c \"q\"", Key: `k "quoted" \ é`, At: 1},
	}
}

// FuzzDecodeAppend: for any input, Decode (hand decoders of appends and
// acks first) and encoding/json alone agree: both refuse it, or both give
// the same frame.
func FuzzDecodeAppend(f *testing.F) {
	for _, msgs := range [][]string{{"a"}, {"x", "y"}, {`"\`, "\n\t\r\b\f/", "é\u2028", "\xff", "\x00"}} {
		entries := make([]Entry, len(msgs))
		for i, m := range msgs {
			entries[i] = Entry{ID: uint64(i + 7), Message: m}
		}
		f.Add(AppendEntries(nil, entries))
	}
	f.Add([]byte(`{"type":"append","entries":[{"id":1,"message":"a\/b\u0041"},{"id":2,"message":""}]}`))
	f.Add([]byte(`{"type":"append","entries":[{"id":1,"message":"\b\f\/\"\\\n\r\t"}]}`))
	f.Add([]byte(`{"type":"append","entries":[{"id":0,"message":"a"}]}`))
	f.Add([]byte(`{"type":"append","entries":[{"id":1,"message":"a"},{"id":3,"message":"b"}]}`))
	// Acks take a hand-written path too.
	f.Add(AppendAck(nil, 12))
	f.Add([]byte(`{"type":"ack","id":0}`))
	f.Add([]byte(`{"type":"ack","id":012}`))
	f.Add([]byte(`{"type":"ack","id":18446744073709551616}`))
	f.Add([]byte(`{"type":"ack","id":12 }`))
	// Failover entries and acks.
	f.Add(AppendEntries(nil, keyedEntries()))
	f.Add(AppendPulled(nil, keyedEntries()))
	f.Add([]byte(`{"type":"append","entries":[{"id":1,"epoch":2,"message":"x","key":"k","at":9223372036854775807}]}`))
	f.Add([]byte(`{"type":"append","entries":[{"id":1,"epoch":2,"message":"x","key":"k"}]}`))
	f.Add([]byte(`{"type":"append","entries":[{"id":1,"epoch":0,"message":"x","key":"","at":0}]}`))
	f.Add(AppendEntriesCommit(nil, keyedEntries(), 41))
	f.Add([]byte(`{"type":"append","entries":[{"id":1,"message":"x"}],"commitId":0}`))
	f.Add([]byte(`{"type":"append","entries":[{"id":1,"message":"x"}],"commitId":7 }`))
	f.Add(AppendAckEpoch(nil, 12, 3))
	f.Add([]byte(`{"type":"ack","epoch":3,"id":0}`))
	f.Add([]byte(`{"type":"ack","epoch":03,"id":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gotErr := Decode(data)
		want, wantErr := decodeJSON(data)
		if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: Decode %+v %v; encoding/json %+v %v", data, got, gotErr, want, wantErr)
		}
	})
}

// ack is a cumulative acknowledgement of every id up to id, as a frame
// (secondaries encode theirs with AppendAck; see frametest.Ack).
func ack(id uint64) Frame { return Frame{Type: TypeAck, ID: id} }
