package frame

import (
	"bytes"
	"math"
	"unicode/utf8"
)

// appendPrefix is how AppendEntries starts every append frame, and
// pulledPrefix how AppendPulled starts a pulled one; decodeAppend tells
// them apart by their first len(appendPrefix) bytes, which both have.
const (
	appendPrefix = `{"type":"append","entries":[`
	pulledPrefix = `{"type":"pulled","entries":[`
)

// decodeAppend parses an append (or pulled) frame written exactly as
// AppendEntries (AppendPulled) writes it, without reflection and with one
// string allocation for all its messages and keys: this is the
// secondary's hot path (encoding/json costs about a microsecond per
// entry). It reports ok false for anything else — other frame kinds,
// other key orders, whitespace, \u escapes, numbers it does not read
// exactly as encoding/json would — and the caller decodes those with
// encoding/json, so that both paths give the same frame (FuzzDecodeAppend
// holds them to it).
func decodeAppend(data []byte) (f Frame, ok bool) {
	if len(data) < len(appendPrefix)+2 {
		return Frame{}, false
	}
	switch string(data[:len(appendPrefix)]) {
	case appendPrefix:
		f.Type = TypeAppend
	case pulledPrefix:
		f.Type = TypePulled
	default:
		return Frame{}, false
	}
	// One copy of the frame: unescaped messages are substrings of it.
	text := string(data)
	i := len(appendPrefix)
	n := 0
	for j := i; j < len(text); j++ {
		if text[j] == '{' {
			n++ // at least the entries; a brace inside a message only overcounts
		}
	}
	entries := make([]Entry, 0, n)
	for {
		if len(entries) == cap(entries) {
			return Frame{}, false // cannot be: each entry starts with a brace counted above
		}
		entries = entries[:len(entries)+1]
		if i, ok = readEntry(text, i, &entries[len(entries)-1]); !ok {
			return Frame{}, false
		}
		if i < len(text) && text[i] == ',' {
			i++
			continue
		}
		if text[i:] != "]}" {
			if f.CommitID, ok = readCommit(text, i); !ok {
				return Frame{}, false
			}
		}
		f.Entries = entries
		return f, true
	}
}

// readCommit reads the `],"commitId":N}` that ends an append frame with
// a commit id (not 0: encoding/json leaves that out).
func readCommit(text string, i int) (uint64, bool) {
	i, ok := expect(text, i, `],"commitId":`)
	if !ok {
		return 0, false
	}
	commit, i, ok := readUint(text, i)
	if !ok || commit == 0 || text[i:] != "}" {
		return 0, false
	}
	return commit, true
}

// readEntry reads one entry as appendEntry writes it, from text[i], into
// e (in place: an Entry is 56 bytes).
func readEntry(text string, i int, e *Entry) (_ int, ok bool) {
	if i, ok = expect(text, i, `{"id":`); !ok {
		return i, false
	}
	if e.ID, i, ok = readUint(text, i); !ok {
		return i, false
	}
	// `,"e` starts an epoch, `,"m` the message: one byte tells them apart.
	if i+2 < len(text) && text[i+2] == 'e' {
		if i, ok = expect(text, i, `,"epoch":`); !ok {
			return i, false
		}
		if e.Epoch, i, ok = readUint(text, i); !ok {
			return i, false
		}
	}
	if i, ok = expect(text, i, `,"message":`); !ok {
		return i, false
	}
	if e.Message, i, ok = readString(text, i); !ok {
		return i, false
	}
	if i < len(text) && text[i] == '}' {
		return i + 1, true // no key: today's entry
	}
	return readKey(text, i, e)
}

// readKey reads the ,"key":..,"at":..} that ends a keyed entry.
func readKey(text string, i int, e *Entry) (_ int, ok bool) {
	if i, ok = expect(text, i, `,"key":`); !ok {
		return i, false
	}
	if e.Key, i, ok = readString(text, i); !ok {
		return i, false
	}
	if i, ok = expect(text, i, `,"at":`); !ok {
		return i, false
	}
	at, i, ok := readUint(text, i)
	if !ok || at > math.MaxInt64 {
		return i, false
	}
	e.At = int64(at)
	if j, ok := expect(text, i, `,"digest":`); ok {
		if e.Digest, i, ok = readUint(text, j); !ok {
			return i, false
		}
	}
	return expect(text, i, `}`)
}

// decodeAck parses an ack frame written exactly as AppendAck or
// AppendAckEpoch writes it: the master reads one per frame from each
// secondary. It reports ok false for anything else, which goes to
// encoding/json.
func decodeAck(data []byte) (Frame, bool) {
	var f Frame
	if !readAck(data, &f) {
		return Frame{}, false
	}
	return f, true
}

// readAck is decodeAck into f, which it leaves as it is (zero, from
// Decode) but for the type, id and epoch: with a Frame of some 300 bytes,
// an ack read into the caller's result costs no copies of it.
func readAck(data []byte, f *Frame) bool {
	n := len(data)
	if n < len(ackPrefix)+2 || data[n-1] != '}' {
		return false
	}
	// Strings of the digits alone: a short conversion that does not
	// escape costs no allocation.
	rest := data[:n-1]
	var epoch uint64
	var ok bool
	switch {
	case string(rest[:len(ackPrefix)]) == ackPrefix:
		rest = rest[len(ackPrefix):]
	case len(rest) > len(ackEpochPrefix) && string(rest[:len(ackEpochPrefix)]) == ackEpochPrefix:
		rest = rest[len(ackEpochPrefix):]
		j := bytes.IndexByte(rest, ',')
		if j < 0 {
			return false
		}
		var i int
		if epoch, i, ok = readUint(string(rest[:j]), 0); !ok || i != j {
			return false
		}
		if rest, ok = bytes.CutPrefix(rest[j:], []byte(`,"id":`)); !ok {
			return false
		}
	default:
		return false
	}
	text := string(rest)
	id, i, ok := readUint(text, 0)
	if !ok || i != len(text) {
		return false
	}
	f.Type, f.ID, f.Epoch = TypeAck, id, epoch
	return true
}

// expect consumes lit at text[i:].
func expect(text string, i int, lit string) (int, bool) {
	if len(text)-i < len(lit) || text[i:i+len(lit)] != lit {
		return i, false
	}
	return i + len(lit), true
}

// readUint reads a JSON integer that fits a uint64: digits, no leading
// zero, no sign, fraction or exponent (those go to encoding/json).
func readUint(text string, i int) (uint64, int, bool) {
	start := i
	var v uint64
	for i < len(text) && text[i] >= '0' && text[i] <= '9' {
		d := uint64(text[i] - '0')
		if v > (^uint64(0)-d)/10 {
			return 0, i, false // overflow: encoding/json refuses it
		}
		v = v*10 + d
		i++
	}
	if i == start || (text[start] == '0' && i-start > 1) {
		return 0, i, false
	}
	return v, i, true
}

// readString reads a quoted JSON string starting at text[i]. A string
// with no escape is returned as a substring of text; the short escapes are
// unescaped into a new string; \u escapes, control characters and invalid
// UTF-8 are left to encoding/json (which has its own rules for them).
func readString(text string, i int) (string, int, bool) {
	if i >= len(text) || text[i] != '"' {
		return "", i, false
	}
	i++
	start := i
	ascii := true
	for i < len(text) {
		c := text[i]
		switch {
		case c == '"':
			s := text[start:i]
			if !ascii && !utf8.ValidString(s) {
				return "", i, false
			}
			return s, i + 1, true
		case c == '\\':
			return readEscaped(text, start)
		case c < 0x20:
			return "", i, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		i++
	}
	return "", i, false
}

// readEscaped reads the rest of a string that holds a backslash, from
// start (just past its opening quote).
func readEscaped(text string, start int) (string, int, bool) {
	buf := make([]byte, 0, 64)
	for i := start; i < len(text); {
		c := text[i]
		switch {
		case c == '"':
			if !utf8.Valid(buf) {
				return "", i, false
			}
			return string(buf), i + 1, true
		case c == '\\':
			if i+1 >= len(text) {
				return "", i, false
			}
			var r byte
			switch text[i+1] {
			case '"', '\\', '/':
				r = text[i+1]
			case 'n':
				r = '\n'
			case 'r':
				r = '\r'
			case 't':
				r = '\t'
			case 'b':
				r = '\b'
			case 'f':
				r = '\f'
			default: // \u and anything invalid
				return "", i, false
			}
			buf = append(buf, r)
			i += 2
		case c < 0x20:
			return "", i, false
		default:
			buf = append(buf, c)
			i++
		}
	}
	return "", len(text), false
}
