package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/replog/replog/shared/httpapi"
)

// AppendRequest is a validated POST /messages body: one message, or a
// batch (Messages set, Message empty).
type AppendRequest struct {
	Message      string
	Messages     []string
	WriteConcern int
	// Timeout bounds the wait for the write concern; 0 waits without
	// limit. TimeoutSet tells a given 0 from an absent timeoutMs, which
	// means the master's WRITE_TIMEOUT.
	Timeout    time.Duration
	TimeoutSet bool
}

// Limits bound what an append may ask for.
type Limits struct {
	// MaxMessageBytes is the largest message accepted.
	MaxMessageBytes int
	// ClusterSize, when not 0, is the most nodes a write concern may name.
	ClusterSize int
	// MaxBatchMessages is the most messages one batch may hold.
	MaxBatchMessages int
}

// ParseAppend reads and validates an append body. Field names match
// exactly, unlike encoding/json's default, so that a typo such as
// "writeconcern" is an error instead of a silently ignored field.
//
// The body of almost every append is a plain object, which parseFast
// reads without reflection or per-token allocations; anything else
// (escapes, odd spacing of values, every error) takes the general path,
// which also words the errors.
func ParseAppend(body io.Reader, lim Limits) (AppendRequest, error) {
	buf := bodyPool.Get().(*bytes.Buffer)
	defer bodyPool.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(body); err != nil {
		return AppendRequest{}, badJSON(err)
	}
	if req, ok := parseFast(buf.Bytes(), lim); ok {
		return req, nil
	}
	return parseGeneral(bytes.NewReader(buf.Bytes()), lim)
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// parseFast accepts only what parseGeneral would accept unchanged: an
// object of known, distinct fields with a plain string message and plain
// integers, valid as a whole. ok is false for anything else.
func parseFast(b []byte, lim Limits) (req AppendRequest, ok bool) {
	req.WriteConcern = 1
	p := fastParser{b: b}
	if !p.expect('{') {
		return req, false
	}
	var seen [3]bool
	for first := true; ; first = false {
		if p.expect('}') {
			if first || !seen[0] || p.skip() != len(p.b) {
				return req, false
			}
			return req, req.Message != "" && len(req.Message) <= lim.MaxMessageBytes
		}
		if !first && !p.expect(',') {
			return req, false
		}
		key, ok := p.plainString()
		if !ok || !p.expect(':') {
			return req, false
		}
		switch string(key) {
		case "message":
			v, ok := p.plainString()
			if !ok || seen[0] {
				return req, false
			}
			req.Message, seen[0] = string(v), true
		case "writeConcern":
			n, ok := p.integer()
			if !ok || seen[1] || n < 1 || (lim.ClusterSize > 0 && n > lim.ClusterSize) {
				return req, false
			}
			req.WriteConcern, seen[1] = n, true
		case "timeoutMs":
			n, ok := p.integer()
			if !ok || seen[2] || n > maxTimeoutMs {
				return req, false
			}
			req.Timeout, req.TimeoutSet, seen[2] = time.Duration(n)*time.Millisecond, true, true
		default:
			return req, false
		}
	}
}

// fastParser reads the plain subset of JSON that parseFast accepts.
type fastParser struct {
	b   []byte
	pos int
}

func (p *fastParser) skip() int {
	for p.pos < len(p.b) && (p.b[p.pos] == ' ' || p.b[p.pos] == '\t' || p.b[p.pos] == '\n' || p.b[p.pos] == '\r') {
		p.pos++
	}
	return p.pos
}

func (p *fastParser) expect(c byte) bool {
	if p.skip() < len(p.b) && p.b[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// plainString reads a string without escapes or control characters, in
// valid UTF-8: the only strings whose bytes are their value.
func (p *fastParser) plainString() ([]byte, bool) {
	if !p.expect('"') {
		return nil, false
	}
	start := p.pos
	for p.pos < len(p.b) {
		switch c := p.b[p.pos]; {
		case c == '"':
			s := p.b[start:p.pos]
			p.pos++
			return s, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		p.pos++
	}
	return nil, false
}

// integer reads a non-negative integer of at most nine digits.
func (p *fastParser) integer() (int, bool) {
	p.skip()
	n, digits := 0, 0
	for p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '9' && digits < 10 {
		n = n*10 + int(p.b[p.pos]-'0')
		p.pos++
		digits++
	}
	if digits == 0 || digits > 9 || (digits > 1 && p.b[p.pos-digits] == '0') {
		return 0, false
	}
	if p.pos < len(p.b) && (p.b[p.pos] == '.' || p.b[p.pos] == 'e' || p.b[p.pos] == 'E') {
		return 0, false
	}
	return n, true
}

// parseGeneral is the exact, error-wording path of ParseAppend.
func parseGeneral(body io.Reader, lim Limits) (AppendRequest, error) {
	req := AppendRequest{WriteConcern: 1}
	dec := json.NewDecoder(body)
	if err := expectDelim(dec, '{'); err != nil {
		return req, err
	}
	seen := map[string]bool{}
	hasMessage, hasMessages := false, false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return req, badJSON(err)
		}
		key := tok.(string) // inside an object, Token returns keys as strings
		if seen[key] {
			return req, httpapi.Errorf(http.StatusBadRequest, "field %q appears twice", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return req, badJSON(err)
		}
		switch key {
		case "message":
			if err := json.Unmarshal(raw, &req.Message); err != nil || raw[0] != '"' {
				return req, httpapi.Errorf(http.StatusBadRequest, "message must be a string")
			}
			hasMessage = true
		case "messages":
			msgs, err := parseBatch(raw, lim)
			if err != nil {
				return req, err
			}
			req.Messages, hasMessages = msgs, true
		case "writeConcern":
			w, err := parseWriteConcern(raw, lim.ClusterSize)
			if err != nil {
				return req, err
			}
			req.WriteConcern = w
		case "timeoutMs":
			ms, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
			if err != nil || ms < 0 || ms > maxTimeoutMs {
				return req, httpapi.Errorf(http.StatusBadRequest,
					"timeoutMs must be an integer from 0 (no limit) to %d, got %s", maxTimeoutMs, raw)
			}
			req.Timeout, req.TimeoutSet = time.Duration(ms)*time.Millisecond, true
		default:
			return req, httpapi.Errorf(http.StatusBadRequest, "unknown field %q (known: message, messages, writeConcern, timeoutMs)", key)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return req, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, httpapi.Errorf(http.StatusBadRequest, "malformed JSON: unexpected data after the object")
	}
	switch {
	case hasMessage && hasMessages:
		return req, httpapi.Errorf(http.StatusBadRequest, "give either message or messages (a batch), not both")
	case hasMessages:
		return req, nil
	case !hasMessage:
		return req, httpapi.Errorf(http.StatusBadRequest, "message (or messages, for a batch) is required")
	case req.Message == "":
		return req, httpapi.Errorf(http.StatusBadRequest, "message must not be empty")
	case len(req.Message) > lim.MaxMessageBytes:
		return req, httpapi.Errorf(http.StatusRequestEntityTooLarge,
			"message is %d bytes; the limit is %d (MAX_MESSAGE_BYTES)", len(req.Message), lim.MaxMessageBytes)
	}
	return req, nil
}

// parseBatch reads a batch: an array of 1..MaxBatchMessages non-empty
// strings, each at most MaxMessageBytes. Errors name the element.
func parseBatch(raw json.RawMessage, lim Limits) ([]string, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || raw[0] != '[' {
		return nil, httpapi.Errorf(http.StatusBadRequest, "messages must be an array of strings")
	}
	switch {
	case len(elems) == 0:
		return nil, httpapi.Errorf(http.StatusBadRequest, "messages must hold at least one message")
	case len(elems) > lim.MaxBatchMessages:
		return nil, httpapi.Errorf(http.StatusBadRequest,
			"messages holds %d messages; at most %d in one batch (MAX_BATCH_MESSAGES)", len(elems), lim.MaxBatchMessages)
	}
	msgs := make([]string, len(elems))
	for i, e := range elems {
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &msgs[i]) != nil {
			return nil, httpapi.Errorf(http.StatusBadRequest, "messages[%d] must be a string, got %s", i, e)
		}
		switch {
		case msgs[i] == "":
			return nil, httpapi.Errorf(http.StatusBadRequest, "messages[%d] is empty", i)
		case len(msgs[i]) > lim.MaxMessageBytes:
			return nil, httpapi.Errorf(http.StatusRequestEntityTooLarge,
				"messages[%d] is %d bytes; the limit is %d (MAX_MESSAGE_BYTES)", i, len(msgs[i]), lim.MaxMessageBytes)
		}
	}
	return msgs, nil
}

// maxTimeoutMs is a day: longer waits are a client bug, not a plan.
const maxTimeoutMs = 24 * 60 * 60 * 1000

func parseWriteConcern(raw json.RawMessage, clusterSize int) (int, error) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == `"majority"` {
		if clusterSize == 0 {
			return 0, httpapi.Errorf(http.StatusBadRequest, `writeConcern "majority" needs CLUSTER_SIZE to be set on the master`)
		}
		return clusterSize/2 + 1, nil
	}
	w, err := strconv.Atoi(string(raw))
	if err != nil || w < 1 {
		return 0, httpapi.Errorf(http.StatusBadRequest, `writeConcern must be an integer >= 1 or "majority", got %s`, raw)
	}
	if clusterSize > 0 && w > clusterSize {
		return 0, httpapi.Errorf(http.StatusBadRequest,
			"writeConcern %d is more than the %d nodes of the cluster (CLUSTER_SIZE)", w, clusterSize)
	}
	return w, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return badJSON(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		if want == '{' {
			return httpapi.Errorf(http.StatusBadRequest, "body must be a JSON object")
		}
		return httpapi.Errorf(http.StatusBadRequest, "malformed JSON: expected %q", want)
	}
	return nil
}

// badJSON turns a decoding failure into a 400, or a 413 when the body
// limit cut it short.
func badJSON(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return httpapi.Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", tooBig.Limit)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return httpapi.Errorf(http.StatusBadRequest, "malformed JSON: body ends too early")
	}
	return httpapi.Errorf(http.StatusBadRequest, "malformed JSON: %s", trimJSONPrefix(err))
}

func trimJSONPrefix(err error) string {
	msg := err.Error()
	if len(msg) > 6 && msg[:6] == "json: " {
		return msg[6:]
	}
	return msg
}
