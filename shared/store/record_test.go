package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
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
		{Message: "epoch 2", Epoch: 2},
		{Message: "keyed epoch", Epoch: 300, Key: "k-2", Digest: 43, Time: at},
		{Message: "largest epoch", Epoch: 1<<64 - 1},
		{Message: "epoch 1 written as 1", Epoch: 1},
	} {
		b := appendRecord(nil, 7, rec)
		d, err := decodeRecord(append(b, "trailing"...))
		if err != nil || d.id != 7 || d.n != len(b) || string(d.msg) != rec.Message || d.rec.Epoch != max(rec.Epoch, 1) ||
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
			if d, err := decodeRecord(bad); err == nil && (d.id != 7 || string(d.msg) != rec.Message || d.rec.Epoch != max(rec.Epoch, 1)) {
				t.Fatalf("a flipped bit at %d went unnoticed: %+v", i, d)
			}
		}
	}
}

// goldenRecords are records 7 {"plain"} and 8 {"keyed", key "k-1",
// digest 42, at 1234567890 ns}, as the release before epochs wrote them.
const goldenRecords = "0e000000bef759cd070000000000000000706c61696e" +
	"2200000023d96341080000000000000001d2029649000000002a00000000000000036b2d316b65796564"

// TestEpochOneRecordsAreTodays: a record of epoch 1 (or 0) encodes byte
// for byte as before epochs, so a log without failover is the same
// bytes; and those bytes read back as epoch 1.
func TestEpochOneRecordsAreTodays(t *testing.T) {
	golden, _ := hex.DecodeString(goldenRecords)
	at := time.Unix(0, 1234567890)
	for _, e := range []uint64{0, 1} {
		b := appendRecord(nil, 7, Record{Message: "plain", Epoch: e})
		b = appendRecord(b, 8, Record{Message: "keyed", Key: "k-1", Digest: 42, Time: at, Epoch: e})
		if !bytes.Equal(b, golden) {
			t.Fatalf("epoch %d encodes as\n%x, not as before epochs:\n%x", e, b, golden)
		}
	}
	for id, rest := uint64(7), golden; len(rest) > 0; id++ {
		d, err := decodeRecord(rest)
		if err != nil || d.id != id || d.rec.Epoch != 1 {
			t.Fatalf("golden record %d: %+v, %v; want epoch 1", id, d, err)
		}
		rest = rest[d.n:]
	}
}

// TestRecordRefusesNonCanonicalEpochs: the epoch flag with epoch 0 or 1,
// or an overlong varint, is corruption (appendRecord never writes it),
// and so is an unknown flag.
func TestRecordRefusesNonCanonicalEpochs(t *testing.T) {
	for name, body := range map[string][]byte{
		"flag with epoch 1": {7, 0, 0, 0, 0, 0, 0, 0, flagEpoch, 1, 'm'},
		"flag with epoch 0": {7, 0, 0, 0, 0, 0, 0, 0, flagEpoch, 0, 'm'},
		"overlong varint":   {7, 0, 0, 0, 0, 0, 0, 0, flagEpoch, 0x82, 0, 'm'},
		"unknown flag":      {7, 0, 0, 0, 0, 0, 0, 0, 4, 'm'},
		"varint cut short":  {7, 0, 0, 0, 0, 0, 0, 0, flagEpoch, 0x82},
	} {
		if d, err := decodeRecord(withHeader(body)); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: decoded %+v, %v; want errCorrupt", name, d, err)
		}
	}
}

// withHeader puts a valid length and checksum before body.
func withHeader(body []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(body, crcTable))
	return append(b, body...)
}

// FuzzDecodeRecord: the decoder never panics, never reads past its input,
// and whatever it accepts re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, 1, Record{Message: "hello"}))
	f.Add(appendRecord(nil, 99, Record{Message: "m", Key: "key", Digest: 5, Time: time.Unix(5, 0)}))
	f.Add(appendRecord(nil, 3, Record{Message: "e", Epoch: 7}))
	f.Add(appendRecord(nil, 4, Record{Message: "ek", Epoch: 1 << 40, Key: "key", Digest: 6, Time: time.Unix(6, 0)}))
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
		if !bytes.Equal(again, b[:d.n]) {
			t.Fatalf("%+v re-encodes as %x, not as read: %x", d, again, b[:d.n])
		}
	})
}
