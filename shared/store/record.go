package store

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"

	"github.com/replog/replog/shared/frame"
)

// Record is what an append stores: the message and, for an append that
// carried an Idempotency-Key, the key with what the master needs to keep
// deduplicating retries after a restart.
type Record struct {
	Message string
	// Epoch is the epoch of the leader that gave the record its id; 0
	// and 1 both mean epoch 1, the only epoch of a log without failover.
	Epoch  uint64
	Key    string    // empty when the append carried none
	Digest uint64    // the message's digest, when Key is set
	Time   time.Time // when the append was accepted, when Key is set
}

// entry is the record of id, holding msg, as Read gives it: with its
// epoch when above 1 (an entry without one is of epoch 1, as a record
// without one is, and as a frame reads it: a log of a single master
// reads, and sends, as before) and its key with when it was accepted
// (unix ms, at least 1, as a frame requires). Nothing here allocates.
func (r Record) entry(id uint64, msg string) frame.Entry {
	e := frame.Entry{ID: id, Message: msg}
	if r.Epoch > 1 {
		e.Epoch = r.Epoch
	}
	if r.Key != "" {
		e.Key, e.At, e.Digest = r.Key, max(r.Time.UnixMilli(), 1), r.Digest
	}
	return e
}

// KeyRecord is an idempotency key found in a durable log when it opened.
type KeyRecord struct {
	Key    string
	ID     uint64
	Digest uint64
	Time   time.Time
}

// On disk a record is a header and a body:
//
//	length uint32  bytes of body
//	crc    uint32  CRC-32C of body
//	body:  id uint64 | flags byte | [epoch uvarint] | [time int64 | digest uint64 | keyLen byte | key] | message
//
// All integers are little endian. The checksum catches torn and corrupt
// writes; the id, checked against its position, catches misplaced data.
// The epoch is written (flagEpoch) only above 1: a record of epoch 1 is
// byte for byte what releases before failover wrote, so a log without
// failover stays readable by them, and theirs reads as epoch 1. An older
// release refuses a record with flagEpoch as corrupt (an unknown flag)
// rather than misreading it.
const (
	headerSize = 8
	flagKey    = 1
	flagEpoch  = 2
	// MaxRecordBody bounds a record so a corrupt length is caught before
	// it asks for gigabytes: a 64 MiB message plus its key and fields.
	MaxRecordBody = 64<<20 + 512
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var (
	// errShort means the bytes end inside the record: a torn write at the
	// end of a log, or simply more to read.
	errShort = errors.New("record truncated")
	// errCorrupt means the bytes cannot be a record written by replog.
	errCorrupt = errors.New("record corrupt")
)

// appendRecord encodes rec with id to dst. rec.Key is at most MaxKeyBytes
// (Append refuses longer ones): its length is one byte.
func appendRecord(dst []byte, id uint64, rec Record) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	var flags byte
	if rec.Key != "" {
		flags |= flagKey
	}
	if rec.Epoch > 1 {
		flags |= flagEpoch
	}
	dst = append(dst, flags)
	if rec.Epoch > 1 {
		dst = binary.AppendUvarint(dst, rec.Epoch)
	}
	if rec.Key != "" {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(rec.Time.UnixNano()))
		dst = binary.LittleEndian.AppendUint64(dst, rec.Digest)
		dst = append(dst, byte(len(rec.Key)))
		dst = append(dst, rec.Key...)
	}
	dst = append(dst, rec.Message...)
	body := dst[start+headerSize:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(body, crcTable))
	return dst
}

// decoded is one record read back.
type decoded struct {
	id  uint64
	rec Record // rec.Epoch is 1 for a record without flagEpoch
	msg []byte // aliases the input
	n   int    // bytes the record takes, header included
}

// decodeRecord reads the record at the start of b.
func decodeRecord(b []byte) (decoded, error) {
	if len(b) < headerSize {
		return decoded{}, errShort
	}
	n := binary.LittleEndian.Uint32(b)
	if n < 9 || n > MaxRecordBody {
		return decoded{}, errCorrupt
	}
	if uint64(len(b)-headerSize) < uint64(n) {
		return decoded{}, errShort
	}
	body := b[headerSize : headerSize+int(n)]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(b[4:]) {
		return decoded{}, errCorrupt
	}
	d := decoded{id: binary.LittleEndian.Uint64(body), n: headerSize + int(n)}
	d.rec.Epoch = 1
	rest := body[9:]
	flags := body[8]
	if flags&^(flagKey|flagEpoch) != 0 {
		return decoded{}, errCorrupt
	}
	if flags&flagEpoch != 0 {
		e, k := binary.Uvarint(rest)
		// Only the one encoding appendRecord writes is a record: epoch 1
		// never carries the flag, and the varint is the shortest.
		if k <= 0 || e < 2 || k != uvarintLen(e) {
			return decoded{}, errCorrupt
		}
		d.rec.Epoch, rest = e, rest[k:]
	}
	if flags&flagKey != 0 {
		if len(rest) < 17 || len(rest) < 17+int(rest[16]) {
			return decoded{}, errCorrupt
		}
		d.rec.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(rest)))
		d.rec.Digest = binary.LittleEndian.Uint64(rest[8:])
		k := int(rest[16])
		d.rec.Key = string(rest[17 : 17+k])
		rest = rest[17+k:]
	}
	d.msg = rest
	return d, nil
}

// uvarintLen is the length of the shortest uvarint encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}
