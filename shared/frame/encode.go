package frame

import (
	"strconv"
	"unicode/utf8"
)

// AppendEntries appends an append frame holding entries to dst and returns
// the extended buffer. It writes the same JSON that encoding/json would
// (modulo HTML escaping, which a frame never needs) without reflection or
// per-entry allocations: this is the master's hot path.
func AppendEntries(dst []byte, entries []Entry) []byte {
	dst = append(dst, `{"type":"append","entries":[`...)
	for i, e := range entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendEntry(dst, e)
	}
	return append(dst, "]}"...)
}

// ackPrefix is how AppendAck starts every ack frame.
const ackPrefix = `{"type":"ack","id":`

// AppendAck appends the ack frame of id to dst, as encoding/json writes
// Ack(id) for any id but 0 (which it leaves out): one ack per frame
// applied, the secondary's other hot path.
func AppendAck(dst []byte, id uint64) []byte {
	dst = append(dst, ackPrefix...)
	return append(strconv.AppendUint(dst, id, 10), '}')
}

// AppendEntry appends one {"id":..,"message":..} object to dst.
func AppendEntry(dst []byte, e Entry) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, e.ID, 10)
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, e.Message)
	return append(dst, '}')
}

// EncodedEntrySize is an upper bound of the bytes AppendEntry writes for a
// message of n bytes: every byte may become a six-byte \u00XX escape.
func EncodedEntrySize(n int) int { return 6*n + 48 }

const hex = "0123456789abcdef"

// AppendString appends s as a quoted JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does, so a decoder always gets valid text.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript readers
		// such as wscat's; escape them as encoding/json does.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
