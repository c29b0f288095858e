package store

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"
)

// Record is what an append stores: the message and, for an append that
// carried an Idempotency-Key, the key with what the master needs to keep
// deduplicating retries after a restart.
type Record struct {
	Message string
	Key     string    // empty when the append carried none
	Digest  uint64    // the message's digest, when Key is set
	Time    time.Time // when the append was accepted, when Key is set
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
//	body:  id uint64 | flags byte | [time int64 | digest uint64 | keyLen byte | key] | message
//
// All integers are little endian. The checksum catches torn and corrupt
// writes; the id, checked against its position, catches misplaced data.
const (
	headerSize = 8
	flagKey    = 1
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
	if rec.Key == "" {
		dst = append(dst, 0)
	} else {
		dst = append(dst, flagKey)
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
	rec Record
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
	rest := body[9:]
	switch body[8] {
	case 0:
	case flagKey:
		if len(rest) < 17 || len(rest) < 17+int(rest[16]) {
			return decoded{}, errCorrupt
		}
		d.rec.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(rest)))
		d.rec.Digest = binary.LittleEndian.Uint64(rest[8:])
		k := int(rest[16])
		d.rec.Key = string(rest[17 : 17+k])
		rest = rest[17+k:]
	default:
		return decoded{}, errCorrupt
	}
	d.msg = rest
	return d, nil
}
