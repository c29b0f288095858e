// Package frame defines replog's replication protocol: the JSON text frames
// that travel over the /replicate WebSocket between the master and its
// secondaries.
//
// Frames are JSON objects with a "type" field so that a person watching the
// socket with wscat can read them. The conversation is:
//
//	secondary → master  hello    {name, role, logId, lastId, version}
//	master → secondary  welcome  {logId, lastId, from, maxFrameBytes, version}
//	master → secondary  append   {entries: [{id, message}, ...]}   (ids consecutive)
//	secondary → master  ack      {id}     cumulative: "I hold every id up to id"
//	secondary → master  nack     {from}   "could not apply from id from; resend"
//	master → secondary  heartbeat {id}    answered by the secondary with the same frame
//	master → secondary  faults   {faults} change injected faults (only to a hello with faultsApi)
//	secondary → master  faults   {faults} the faults in force, answering a change (or {error})
//	either way          error    {error}  sent before closing on a protocol error
package frame

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Version is the protocol version a hello must carry. A master refuses any
// other version with a clear close reason instead of guessing.
const Version = 1

// Silence thresholds of the heartbeat, in heartbeat intervals: a peer not
// heard from for SuspectAfter intervals is suspected, and after
// UnhealthyAfter it is unhealthy (the master stops counting it toward the
// quorum; a secondary gives up on the connection and redials).
const (
	SuspectAfter   = 2
	UnhealthyAfter = 4
)

// Type names a frame kind on the wire.
type Type string

// Frame kinds; see the package comment for who sends which.
const (
	TypeHello     Type = "hello"
	TypeWelcome   Type = "welcome"
	TypeAppend    Type = "append"
	TypeAck       Type = "ack"
	TypeNack      Type = "nack"
	TypeError     Type = "error"
	TypeHeartbeat Type = "heartbeat"
	TypeFaults    Type = "faults"
)

// Role is what a dialing peer declares itself to be in its hello.
type Role string

const (
	// RoleSecondary peers ack what they hold and count toward write concerns.
	RoleSecondary Role = "secondary"
	// RoleObserver peers only watch the stream: they send no acks and never
	// count toward a write concern. This is how a person uses wscat.
	RoleObserver Role = "observer"
)

// Entry is one message of the log with the id the master gave it.
type Entry struct {
	ID      uint64 `json:"id"`
	Message string `json:"message"`
}

// Frame is every frame kind in one flat struct, so that frames read well as
// JSON and decode in one pass. Which fields matter depends on Type.
type Frame struct {
	Type Type `json:"type"`

	// hello and welcome
	Version int    `json:"version,omitempty"`
	Name    string `json:"name,omitempty"`
	Role    Role   `json:"role,omitempty"`
	LogID   string `json:"logId,omitempty"`
	// LastID is, in a hello, the last gap-free id the peer holds; in a
	// welcome and in each heartbeat, the master's last id (a secondary's
	// own view of its lag).
	LastID uint64 `json:"lastId,omitempty"`
	// From is, in a welcome, the first id the master will stream; in a
	// nack, the first id the secondary could not apply.
	From uint64 `json:"from,omitempty"`
	// MaxFrameBytes tells the secondary how large a frame may get, so it
	// can raise its read limit without knowing the master's configuration.
	MaxFrameBytes int64 `json:"maxFrameBytes,omitempty"`
	// HeartbeatMs, in a welcome, is how often the master sends heartbeats;
	// a secondary that hears nothing for four of them redials.
	HeartbeatMs int64 `json:"heartbeatMs,omitempty"`
	// FirstID, in a welcome and in each heartbeat, is the oldest id the
	// master holds (retention drops what is below it); secondaries drop
	// what they hold below it too.
	FirstID uint64 `json:"firstId,omitempty"`
	// FaultsAPI, in a hello, says the secondary takes fault changes from
	// the master (it runs with FAULTS_API=true).
	FaultsAPI bool `json:"faultsApi,omitempty"`

	// Faults: in a hello or a faults frame from a secondary, the faults in
	// force; in a faults frame from the master, the changes to make.
	Faults *Faults `json:"faults,omitempty"`

	// append
	Entries []Entry `json:"entries,omitempty"`

	// ack: every id up to and including ID is held. heartbeat: a sequence
	// number. faults: from the master, the change's number; from the
	// secondary, the number of the change it answers (none for a change
	// made on its own API).
	ID uint64 `json:"id,omitempty"`

	// nack and error: a reason a person can act on.
	Error string `json:"error,omitempty"`
}

// ErrMalformed is wrapped by every decoding error, so callers can tell a
// peer speaking nonsense from a broken connection.
var ErrMalformed = errors.New("malformed frame")

// Decode parses and validates one frame. Append frames as the master
// writes them and acks as the secondary writes them take hand-written
// paths (decodeAppend, decodeAck); everything else, and any such frame
// they do not read exactly, goes through encoding/json.
func Decode(data []byte) (Frame, error) {
	if f, ok := decodeAck(data); ok {
		return f, nil
	}
	f, ok := decodeAppend(data)
	if ok {
		if err := validateEntries(f.Entries); err != nil {
			return Frame{}, err
		}
		return f, nil
	}
	return decodeJSON(data)
}

// decodeJSON is Decode by encoding/json alone.
func decodeJSON(data []byte) (Frame, error) {
	var f Frame
	if err := json.Unmarshal(data, &f); err != nil {
		return Frame{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := f.Validate(); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// Validate checks that f carries what its type needs.
func (f Frame) Validate() error {
	switch f.Type {
	case TypeHello:
		return f.validateHello()
	case TypeWelcome:
		if f.LogID == "" || f.From == 0 {
			return malformed("welcome needs logId and from")
		}
	case TypeAppend:
		return validateEntries(f.Entries)
	case TypeAck, TypeHeartbeat:
	case TypeFaults:
		if f.Faults == nil && f.Error == "" {
			return malformed("faults frame needs faults or an error")
		}
		if f.Faults != nil {
			if err := f.Faults.Validate(); err != nil {
				return malformed(err.Error())
			}
		}
	case TypeNack:
		if f.From == 0 {
			return malformed("nack needs from >= 1")
		}
	case TypeError:
		if f.Error == "" {
			return malformed("error frame needs an error")
		}
	case "":
		return malformed("missing type")
	default:
		return malformed(fmt.Sprintf("unknown type %q", f.Type))
	}
	return nil
}

func (f Frame) validateHello() error {
	if f.Version == 0 {
		return malformed("hello needs a version")
	}
	switch f.Role {
	case RoleSecondary, RoleObserver, "":
	default:
		return malformed(fmt.Sprintf("unknown role %q (want %q or %q)", f.Role, RoleSecondary, RoleObserver))
	}
	if f.Name == "" {
		return malformed("hello needs a name")
	}
	return nil
}

func validateEntries(entries []Entry) error {
	if len(entries) == 0 {
		return malformed("append needs at least one entry")
	}
	for i, e := range entries {
		if e.ID == 0 {
			return malformed("entry id must be >= 1")
		}
		if i > 0 && e.ID != entries[i-1].ID+1 {
			return malformed(fmt.Sprintf("entry ids must be consecutive: %d follows %d", e.ID, entries[i-1].ID))
		}
	}
	return nil
}

func malformed(why string) error { return fmt.Errorf("%w: %s", ErrMalformed, why) }

// Encode marshals f. Append frames take the allocation-free path of
// AppendEntries; the other kinds are rare enough for encoding/json.
func Encode(f Frame) ([]byte, error) {
	if f.Type == TypeAppend {
		return AppendEntries(nil, f.Entries), nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode %s frame: %w", f.Type, err)
	}
	return b, nil
}

// Hello builds the first frame a peer sends.
func Hello(name string, role Role, logID string, lastID uint64) Frame {
	return Frame{Type: TypeHello, Version: Version, Name: name, Role: role, LogID: logID, LastID: lastID}
}

// Nack builds a request to resend from id from.
func Nack(from uint64, reason string) Frame { return Frame{Type: TypeNack, From: from, Error: reason} }

// Error builds the frame sent before closing on a protocol error.
func Error(reason string) Frame { return Frame{Type: TypeError, Error: reason} }
