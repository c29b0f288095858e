package frame

import "fmt"

// Protocol versions. A hello carries the newest version its sender speaks;
// the connection then speaks the lower of that and the master's
// (Negotiate), and every frame sent on it is written for that version
// (EncodeFor, AppendEntriesFor).
const (
	// Version is the newest version this release speaks: 2, the failover
	// protocol's fields and frames.
	Version = 2
	// MinVersion is the oldest a master still serves: the release before
	// failover spoke 1, and a master without PEERS serves it, so that an
	// upgrade one node at a time (the master first) loses nothing.
	MinVersion = 1
)

// Accepts reports whether a master serves a hello of version v. A master
// that runs the failover protocol (with PEERS) needs version 2 from every
// peer: a version-1 node ignores the fields it does not know (epochs,
// leader: false) and would follow a node that does not lead, or a deposed
// leader, and its acks would count without a promise behind them. A
// single master serves 1 and 2.
func Accepts(v int, failover bool) bool {
	if failover {
		return v == Version
	}
	return v >= MinVersion && v <= Version
}

// Negotiate is the version a connection speaks whose peer's hello said v
// (a version Accepts): the lower of v and Version.
func Negotiate(v int) int { return min(v, Version) }

// EncodeFor marshals f as a peer that speaks version v reads it. For a
// version-1 peer it leaves out every field of the failover protocol
// (epochs, keys, leader, keep, quorumId, commitId, …), writes version 1 in a hello
// or welcome, and refuses the frames and roles that version 1 does not
// have: what a single master sends a version-1 peer is byte for byte
// what the release before sent (testdata/v1 holds it to that).
func EncodeFor(f Frame, v int) ([]byte, error) {
	if v >= Version {
		return Encode(f)
	}
	if err := f.checkVersion1(); err != nil {
		return nil, err
	}
	if f.Type == TypeAppend {
		return AppendEntriesFor(nil, f.Entries, v), nil // without f.CommitID
	}
	return Encode(f.version1())
}

// checkVersion1 refuses what a version-1 peer cannot be sent.
func (f Frame) checkVersion1() error {
	switch f.Type {
	case TypePrepare, TypePromise, TypePull, TypePulled, TypeHandoff, TypePromote:
		return fmt.Errorf("encode %s frame: protocol version 1 has no such frame", f.Type)
	}
	if f.Role == RoleStandby {
		return fmt.Errorf("encode %s frame: protocol version 1 has no role %q", f.Type, f.Role)
	}
	if f.Leader != nil && !*f.Leader {
		return fmt.Errorf("encode %s frame: a version-1 peer takes every welcome as a leader's", f.Type)
	}
	return nil
}

// version1 is f without the fields version 2 added.
func (f Frame) version1() Frame {
	f.Version = min(f.Version, 1)
	f.Leader, f.Candidate, f.Granted = nil, "", false
	f.Epoch, f.Promised, f.LastEpoch = 0, 0, 0
	f.Epochs, f.Keep, f.Learner, f.To, f.QuorumID = nil, 0, false, 0, 0
	f.Voters, f.Within, f.URL, f.CommitID = "", 0, "", 0
	return f
}
