package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRecordRoundTrip(t *testing.T) {
	at := time.Unix(0, 1234567890)
	for _, rec := range []Record{
		{Message: "plain"},
		{Message: "keyed", Key: "k-1", Digest: 42, Time: at},
		{Message: ""},
		{Message: "longest key", Key: strings.Repeat("k", MaxKeyBytes), Digest: 1, Time: at},
	} {
		b := appendRecord(nil, 7, rec)
		d, err := decodeRecord(append(b, "trailing"...))
		if err != nil || d.id != 7 || d.n != len(b) || string(d.msg) != rec.Message ||
			d.rec.Key != rec.Key || d.rec.Digest != rec.Digest || (rec.Key != "" && !d.rec.Time.Equal(at)) {
			t.Fatalf("round trip of %+v: %+v, %v", rec, d, err)
		}
		for cut := range len(b) {
			if _, err := decodeRecord(b[:cut]); !errors.Is(err, errShort) && !errors.Is(err, errCorrupt) {
				t.Fatalf("a record cut at %d decoded: %v", cut, err)
			}
		}
		for i := range b {
			bad := append([]byte(nil), b...)
			bad[i] ^= 0x40
			if d, err := decodeRecord(bad); err == nil && (d.id != 7 || string(d.msg) != rec.Message) {
				t.Fatalf("a flipped bit at %d went unnoticed: %+v", i, d)
			}
		}
	}
}

// FuzzDecodeRecord: the decoder never panics, never reads past its input,
// and whatever it accepts re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, 1, Record{Message: "hello"}))
	f.Add(appendRecord(nil, 99, Record{Message: "m", Key: "key", Digest: 5, Time: time.Unix(5, 0)}))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeRecord(b)
		if err != nil {
			return
		}
		if d.n > len(b) {
			t.Fatalf("record of %d bytes from %d bytes of input", d.n, len(b))
		}
		rec := d.rec
		rec.Message = string(d.msg)
		again := appendRecord(nil, d.id, rec)
		if d2, err := decodeRecord(again); err != nil || d2.id != d.id || string(d2.msg) != rec.Message || d2.rec.Key != rec.Key {
			t.Fatalf("re-encoding %+v failed: %v", d, err)
		}
	})
}
