package frame

import (
	"encoding/json"
	"fmt"
)

// EpochStart is one step of an epoch history: epoch Epoch started at id
// FirstID (the first id its leader would give). On the wire it is the
// pair [epoch, firstId], so that a history reads as [[1,1],[3,40]].
type EpochStart struct {
	Epoch   uint64
	FirstID uint64
}

// MarshalJSON writes s as [epoch, firstId].
func (s EpochStart) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "[%d,%d]", s.Epoch, s.FirstID), nil
}

// UnmarshalJSON reads [epoch, firstId]: exactly two unsigned integers.
func (s *EpochStart) UnmarshalJSON(b []byte) error {
	var pair []uint64
	if err := json.Unmarshal(b, &pair); err != nil {
		return fmt.Errorf("epoch start: %w", err)
	}
	if len(pair) != 2 {
		return fmt.Errorf("epoch start %s: want [epoch, firstId]", b)
	}
	s.Epoch, s.FirstID = pair[0], pair[1]
	return nil
}

// Leads reads a welcome's leader field: absent, as from every version-1
// master, is true.
func (f Frame) Leads() bool { return f.Leader == nil || *f.Leader }

// History is the epoch history a hello or a welcome stands for. A peer
// that sends none (a version-1 peer, or a single master talking to one)
// holds a log of epoch 1 from its first id: [[1,1]] if it holds anything
// (lastId >= 1), and no history (epoch 0, a fresh or wiped log) if not.
func (f Frame) History() []EpochStart {
	if f.Epochs != nil || f.LastID == 0 {
		return f.Epochs
	}
	return []EpochStart{{Epoch: 1, FirstID: 1}}
}
