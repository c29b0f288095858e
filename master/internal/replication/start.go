package replication

import (
	"fmt"

	"github.com/replog/replog/shared/frame"
)

// Start is where a new session begins streaming, decided from a peer's
// hello and the master's log.
type Start struct {
	// From is the first id to stream.
	From uint64
	// Resync is set when the peer holds another log (the master restarted
	// with a fresh one): it must drop its copy and take this log from id 1.
	Resync bool
	// Behind is set when retention dropped ids the peer lacks: it must
	// restart its log at From.
	Behind bool
	// Keep is, in a cluster with failover, the last id at which the
	// peer's log agrees with the leader's: the welcome tells it to move
	// what it holds beyond to rollback/.
	Keep uint64
}

// Decide picks where a peer's stream starts. A peer of this log resumes
// after the last id it holds; a peer of another log starts over, never
// mixing two logs; a peer that claims ids this log does not have is
// refused, because one of the two is not what it says.
func Decide(logID string, first, last uint64, hello frame.Frame) (Start, error) {
	s, err := decide(logID, last, hello)
	if err == nil && s.From < first {
		// Retention dropped what the peer lacks: it restarts at first.
		s.From, s.Behind = first, true
	}
	return s, err
}

func decide(logID string, last uint64, hello frame.Frame) (Start, error) {
	if hello.Role == frame.RoleObserver {
		return Start{From: min(hello.LastID, last) + 1}, nil
	}
	if hello.LastID == 0 {
		return Start{From: 1, Resync: hello.LogID != "" && hello.LogID != logID}, nil
	}
	if hello.LogID != logID {
		return Start{From: 1, Resync: true}, nil
	}
	if hello.LastID > last {
		return Start{}, fmt.Errorf("secondary %s holds id %d of log %s but the master's last id is %d",
			hello.Name, hello.LastID, logID, last)
	}
	return Start{From: hello.LastID + 1}, nil
}
