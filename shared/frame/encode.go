package frame

import (
	"strconv"
	"unicode/utf8"
)

// AppendEntries appends an append frame holding entries to dst and returns
// the extended buffer, as this release writes it (Version). It writes the
// same JSON that encoding/json would (modulo HTML escaping, which a frame
// never needs) without reflection or per-entry allocations: this is the
// master's hot path.
func AppendEntries(dst []byte, entries []Entry) []byte {
	return appendEntries(dst, appendPrefix, entries, true)
}

// AppendEntriesCommit is AppendEntries of a frame that also carries the
// commit id commit (0 leaves it out), for a version-2 peer.
func AppendEntriesCommit(dst []byte, entries []Entry, commit uint64) []byte {
	return appendCommit(AppendEntries(dst, entries), commit)
}

// AppendEntriesCommitFor is AppendEntriesCommit for a peer that speaks
// version v: a version-1 peer gets no commit id (AppendEntriesFor).
func AppendEntriesCommitFor(dst []byte, entries []Entry, v int, commit uint64) []byte {
	if v < 2 {
		return AppendEntriesFor(dst, entries, v)
	}
	return AppendEntriesCommit(dst, entries, commit)
}

// appendCommit turns the closing "]}" of the append frame dst ends with
// into "],"commitId":commit}", as encoding/json writes the field after
// the entries.
func appendCommit(dst []byte, commit uint64) []byte {
	if commit == 0 {
		return dst
	}
	dst = append(dst[:len(dst)-1], `,"commitId":`...)
	dst = strconv.AppendUint(dst, commit, 10)
	return append(dst, '}')
}

// AppendEntriesFor is AppendEntries for a peer that speaks version v: a
// version-1 peer gets each entry's id and message only, byte for byte what
// a master of that release wrote (its decoder would take anything more off
// its fast path, and an epoch it cannot read is one it must not be sent).
func AppendEntriesFor(dst []byte, entries []Entry, v int) []byte {
	return appendEntries(dst, appendPrefix, entries, v >= 2)
}

// AppendPulled appends the pulled frame of entries, in the entries'
// encoding of an append; only version-2 peers pull.
func AppendPulled(dst []byte, entries []Entry) []byte {
	return appendEntries(dst, pulledPrefix, entries, true)
}

func appendEntries(dst []byte, prefix string, entries []Entry, failover bool) []byte {
	dst = append(dst, prefix...)
	for i, e := range entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendEntry(dst, e, failover)
	}
	return append(dst, "]}"...)
}

// ackPrefix is how AppendAck starts every ack frame, and ackEpochPrefix
// how AppendAckEpoch starts one with an epoch.
const (
	ackPrefix      = `{"type":"ack","id":`
	ackEpochPrefix = `{"type":"ack","epoch":`
)

// AppendAck appends the ack frame of id to dst, as encoding/json writes
// Ack(id) for any id but 0 (which it leaves out): one ack per frame
// applied, the secondary's other hot path.
func AppendAck(dst []byte, id uint64) []byte {
	dst = append(dst, ackPrefix...)
	return append(strconv.AppendUint(dst, id, 10), '}')
}

// AppendAckEpoch is AppendAck of a follower of a leader of epoch (0 leaves
// it out, as to a version-1 master).
func AppendAckEpoch(dst []byte, id, epoch uint64) []byte {
	if epoch == 0 {
		return AppendAck(dst, id)
	}
	dst = append(dst, ackEpochPrefix...)
	dst = strconv.AppendUint(dst, epoch, 10)
	dst = append(dst, `,"id":`...)
	return append(strconv.AppendUint(dst, id, 10), '}')
}

// AppendEntry appends one {"id":..,"message":..} object to dst: an entry
// as the HTTP API shows it and a version-1 peer reads it, without the
// failover protocol's epoch, key and at.
func AppendEntry(dst []byte, e Entry) []byte { return appendEntry(dst, e, false) }

// appendEntry writes e with, if failover, the fields encoding/json writes
// when they are set: {"id","epoch","message","key","at"} in the order of
// Entry's fields.
func appendEntry(dst []byte, e Entry, failover bool) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, e.ID, 10)
	if failover && e.Epoch != 0 {
		dst = append(dst, `,"epoch":`...)
		dst = strconv.AppendUint(dst, e.Epoch, 10)
	}
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, e.Message)
	if failover && e.Key != "" {
		dst = append(dst, `,"key":`...)
		dst = AppendString(dst, e.Key)
	}
	if failover && e.At != 0 {
		dst = append(dst, `,"at":`...)
		dst = strconv.AppendInt(dst, e.At, 10)
	}
	if failover && e.Digest != 0 {
		dst = append(dst, `,"digest":`...)
		dst = strconv.AppendUint(dst, e.Digest, 10)
	}
	return append(dst, '}')
}

// EncodedEntrySize is an upper bound of the bytes an entry takes in an
// append frame when its message and its key hold n bytes together: every
// byte may become a six-byte \u00XX escape; 144 holds the keys, the
// quotes and the numbers (id, epoch, at, digest) at their longest.
func EncodedEntrySize(n int) int { return 6*n + 144 }

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
