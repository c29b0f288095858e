// Package frame defines replog's replication protocol: the JSON text frames
// that travel over the /replicate WebSocket between the master and its
// secondaries.
//
// Frames are JSON objects with a "type" field so that a person watching the
// socket with wscat can read them. The conversation is (fields marked *
// are version 2's, sent only with failover, but for an entry's key and at,
// which a master with a durable log sends any version-2 peer; see below):
//
//	secondary → master  hello    {name, role, logId, lastId, version, epoch*, lastEpoch*, epochs*, learner*}
//	master → secondary  welcome  {logId, lastId, from, maxFrameBytes, version, leader*, epoch*, epochs*, keep*}
//	master → secondary  append   {entries: [{id, epoch*, message, key*, at*, digest*}, ...], commitId*}   (ids consecutive)
//	secondary → master  ack      {id, epoch*}  cumulative: "I hold every id up to id"
//	secondary → master  nack     {from}   "could not apply from id from; resend"
//	master → secondary  heartbeat {id, epoch*, quorumId*, commitId*}  answered by the secondary with the same frame
//	master → secondary  faults   {faults} change injected faults (only to a hello with faultsApi)
//	secondary → master  faults   {faults} the faults in force, answering a change (or {error})
//	either way          error    {error}  sent before closing on a protocol error
//
// The failover protocol (several master-capable nodes, epochs, promises;
// docs/FAILOVER.md) adds the role "standby" and these frames, all version 2:
//
//	candidate → node    prepare  {epoch, candidate, lastEpoch, lastId}  "promise me epoch"
//	node → candidate    promise  {epoch, candidate, granted, promised, lastEpoch, lastId, epochs}
//	candidate → node    pull     {from, to}  "send me your entries from..to"
//	node → candidate    pulled   {entries}   as in an append
//	leader → followers  handoff  {candidate, lastId, epoch}  switchover: "candidate stands for epoch"
//	standby → leader    promote  {name}
//
// An epoch history is a list of [epoch, firstId] pairs (EpochStart),
// oldest first: [[1,1],[3,40]].
//
// # Versions and compatibility
//
// A hello carries the newest version its sender speaks (Version, 2). A
// master without PEERS serves versions 1 and 2 (Accepts(v, false)): a
// secondary of the release before failover keeps working against an
// upgraded master, so a rolling upgrade, master first, loses nothing. A
// master with PEERS serves only version 2 (Accepts(v, true)), because a
// version-1 node silently ignores what it does not know — an entry's
// epoch, a welcome's leader: false — and would follow a node that does not
// lead, or keep a diverged tail; it refuses unknown frames and the role
// standby, closing the connection. The refusal is the hello's close
// reason, "protocol version 1 not supported".
//
// A connection speaks the lower of the two versions (Negotiate), and every
// frame on it is written for that version: EncodeFor and AppendEntriesFor
// leave out, for a version-1 peer, every field version 2 added, whatever
// values they hold, and write version 1 in a hello or welcome, so that
// what a single master writes with them for a version-1 secondary is byte
// for byte what the release before sent (testdata/v1); the frames version
// 1 lacks are an error to encode for it. (A version-1 secondary reads no
// welcome's version, and decodes an entry with fields it does not know,
// dropping them, on encoding/json's slower path.) A secondary of
// this release reads every version-1 frame (a master not yet upgraded
// refuses its version-2 hello, though: upgrade the master first, or send
// the hello for version 1).
//
// What a version-1 peer leaves out reads as a single master's epoch 1:
//   - an entry without epoch has the epoch its log's history gives its id
//     (for a log of a single master, epoch 1);
//   - a hello or welcome without epochs stands for the history [[1,1]] if
//     its sender holds anything (lastId >= 1), for none otherwise (History);
//   - a welcome without leader comes from a leader (Leads);
//   - an ack or heartbeat without epoch is of the leader's current epoch;
//   - no key and at: the append carried no Idempotency-Key.
package frame

import (
	"encoding/json"
	"errors"
	"fmt"
)

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

	// The failover protocol's frames (version 2, a master with PEERS);
	// see the package comment.
	TypePrepare Type = "prepare"
	TypePromise Type = "promise"
	TypePull    Type = "pull"
	TypePulled  Type = "pulled"
	TypeHandoff Type = "handoff"
	TypePromote Type = "promote"
)

// Role is what a dialing peer declares itself to be in its hello.
type Role string

const (
	// RoleSecondary peers ack what they hold and count toward write concerns.
	RoleSecondary Role = "secondary"
	// RoleObserver peers only watch the stream: they send no acks and never
	// count toward a write concern. This is how a person uses wscat.
	RoleObserver Role = "observer"
	// RoleStandby peers are master-capable nodes following the leader:
	// they ack like secondaries and may stand in an election.
	RoleStandby Role = "standby"
)

// Entry is one message of the log with the id the master gave it.
type Entry struct {
	ID uint64 `json:"id"`
	// Epoch is the epoch of the leader that appended it; 0 (absent) means
	// the epoch the log's history gives id (epoch 1 for a log of a single
	// master, which never writes it).
	Epoch   uint64 `json:"epoch,omitempty"`
	Message string `json:"message"`
	// Key and At are the Idempotency-Key the append carried and when the
	// leader accepted it (unix ms), so that a promoted standby answers a
	// retried key as its predecessor did. Both or neither.
	Key string `json:"key,omitempty"`
	At  int64  `json:"at,omitempty"`
	// Digest identifies, with Key, what the keyed append held (its
	// message, or its whole batch: store.Digest, store.DigestBatch), so
	// that a node that takes the entry answers a retried key as the
	// leader that accepted it did, and refuses the key for anything else.
	Digest uint64 `json:"digest,omitempty"`
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
	// Leader, in a welcome, says whether the node leads: false is "I do
	// not lead; keep this connection for prepares". Absent (nil), as from
	// every version-1 master, means it leads; read it with Leads.
	Leader *bool `json:"leader,omitempty"`
	// Candidate names, in a prepare and a promise, the node standing; in
	// a handoff, the node that stands next.
	Candidate string `json:"candidate,omitempty"`
	// Granted, in a promise: the promise was persisted. Absent is a
	// refusal (the reason, if any, in Error).
	Granted bool `json:"granted,omitempty"`
	// Epoch is, in a hello, the epoch the node promised; in a prepare,
	// promise and handoff, the epoch stood for; in a welcome, heartbeat
	// and ack, the leader's epoch. Absent in frames of version-1 peers:
	// see the package comment.
	Epoch uint64 `json:"epoch,omitempty"`
	// Promised, in a refused promise, is the epoch the node promised
	// already, so that the candidate can stand past it.
	Promised uint64 `json:"promised,omitempty"`
	// LastEpoch is, with LastID, a node's position: the last epoch of its
	// history (hello, prepare, promise).
	LastEpoch uint64 `json:"lastEpoch,omitempty"`
	// LastID is, in a hello, the last gap-free id the peer holds; in a
	// welcome and in each heartbeat, the master's last id (a secondary's
	// own view of its lag).
	LastID uint64 `json:"lastId,omitempty"`
	// Epochs is a node's epoch history (hello, promise) or the leader's
	// (welcome), oldest first.
	Epochs []EpochStart `json:"epochs,omitempty"`
	// Keep, in a leader's welcome, is the last id of the follower's log
	// that agrees with the leader's: the follower moves what it holds
	// beyond it to rollback/ before it applies anything.
	Keep uint64 `json:"keep,omitempty"`
	// Learner, in a hello: the node's data directory was wiped; its acks
	// count toward nothing until it is re-admitted.
	Learner bool `json:"learner,omitempty"`
	// From is, in a welcome, the first id the master will stream; in a
	// nack, the first id the secondary could not apply; in a pull, the
	// first id asked for.
	From uint64 `json:"from,omitempty"`
	// To, in a pull, is the last id asked for.
	To uint64 `json:"to,omitempty"`
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
	// QuorumID, in a heartbeat, is the highest id a majority not counting
	// the receiver holds: a learner is re-admitted once it holds it.
	QuorumID uint64 `json:"quorumId,omitempty"`
	// Voters, in a hello of a standby and a welcome of a node with PEERS,
	// is the digest of the voter set (CLUSTER_SIZE and the sorted PEERS,
	// election.VoterSet.Digest): nodes that count majorities over
	// different sets refuse each other. Its presence in a welcome is also
	// how a follower learns that the cluster has failover.
	Voters string `json:"voters,omitempty"`
	// URL, in a leader's welcome, is its ADVERTISE_URL: where clients
	// reach it (redirects, leader hints), which may differ from the
	// address its followers dial.
	URL string `json:"url,omitempty"`
	// Within, in a handoff, is how long (ms) the switchover lasts before
	// it lapses on the standby too.
	Within int64 `json:"within,omitempty"`
	// FaultsAPI, in a hello, says the secondary takes fault changes from
	// the master (it runs with FAULTS_API=true).
	FaultsAPI bool `json:"faultsApi,omitempty"`

	// Faults: in a hello or a faults frame from a secondary, the faults in
	// force; in a faults frame from the master, the changes to make.
	Faults *Faults `json:"faults,omitempty"`

	// append and pulled
	Entries []Entry `json:"entries,omitempty"`
	// CommitID, in an append or heartbeat of a version-2 connection, is
	// the highest id the leader knows a majority of the cluster holds (a
	// single master: of CLUSTER_SIZE; absent without it): what no
	// failover can roll back. A follower keeps the highest it heard and
	// shows committed reads up to it (never beyond its own last id). It
	// comes after entries so that an append with one reads as
	// encoding/json writes it: {"type":"append","entries":[…],"commitId":N}.
	CommitID uint64 `json:"commitId,omitempty"`

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

// Decode parses and validates one frame. Append (and pulled) frames as
// the master writes them and acks as the secondary writes them take
// hand-written paths (decodeAppend, readAck); everything else, and any
// such frame they do not read exactly, goes through encoding/json.
func Decode(data []byte) (f Frame, err error) {
	if readAck(data, &f) {
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
	if len(f.Entries) == 0 {
		f.Entries = nil // "entries":[] on a frame without entries reads as none, as it encodes
	}
	if err := f.Validate(); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// Encode marshals f as this release writes it (Version). Append and
// pulled frames take the allocation-free path of AppendEntries; the other
// kinds are rare enough for encoding/json.
func Encode(f Frame) ([]byte, error) {
	switch f.Type {
	case TypeAppend:
		return AppendEntriesCommit(nil, f.Entries, f.CommitID), nil
	case TypePulled:
		return AppendPulled(nil, f.Entries), nil
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
