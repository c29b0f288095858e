package frame

import "fmt"

// Validate checks that f carries what its type needs. An error names the
// field at fault and wraps ErrMalformed.
func (f Frame) Validate() error {
	if err := validateEpochs(f.Epochs); err != nil {
		return err
	}
	switch f.Type {
	case TypeHello:
		return f.validateHello()
	case TypeWelcome:
		return f.validateWelcome()
	case TypeAppend, TypePulled:
		return validateEntries(f.Entries)
	case TypeAck:
	case TypeHeartbeat:
		if f.QuorumID > f.LastID {
			return malformed(fmt.Sprintf("heartbeat quorumId %d is past its lastId %d", f.QuorumID, f.LastID))
		}
	case TypeFaults:
		return f.validateFaults()
	case TypeNack:
		if f.From == 0 {
			return malformed("nack needs from >= 1")
		}
	case TypeError:
		if f.Error == "" {
			return malformed("error frame needs an error")
		}
	case TypePrepare, TypePromise, TypePull, TypeHandoff, TypePromote:
		return f.validateFailover()
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
	case RoleSecondary, RoleObserver, RoleStandby, "":
	default:
		return malformed(fmt.Sprintf("unknown role %q (want %q, %q or %q)", f.Role, RoleSecondary, RoleObserver, RoleStandby))
	}
	if f.Name == "" {
		return malformed("hello needs a name")
	}
	if f.Epoch != 0 && f.LastEpoch > f.Epoch {
		return malformed(fmt.Sprintf("hello lastEpoch %d is past its promised epoch %d", f.LastEpoch, f.Epoch))
	}
	return f.validatePosition()
}

func (f Frame) validateWelcome() error {
	if !f.Leads() {
		return nil // a standby's answer: no log to stream, maybe none at all
	}
	if f.LogID == "" || f.From == 0 {
		return malformed("welcome needs logId and from")
	}
	if f.Keep >= f.From {
		return malformed(fmt.Sprintf("welcome from %d must be past keep %d", f.From, f.Keep))
	}
	if n := len(f.Epochs); n > 0 && f.Epoch != 0 && f.Epochs[n-1].Epoch != f.Epoch {
		return malformed(fmt.Sprintf("welcome epoch %d is not the last of its epochs (%d)", f.Epoch, f.Epochs[n-1].Epoch))
	}
	return nil
}

func (f Frame) validateFaults() error {
	if f.Faults == nil && f.Error == "" {
		return malformed("faults frame needs faults or an error")
	}
	if f.Faults != nil {
		if err := f.Faults.Validate(); err != nil {
			return malformed(err.Error())
		}
	}
	return nil
}

// validateFailover checks the frames of the election and the switchover.
func (f Frame) validateFailover() error {
	switch f.Type {
	case TypePrepare:
		if f.Epoch == 0 || f.Candidate == "" {
			return malformed("prepare needs epoch >= 1 and a candidate")
		}
		if f.LastEpoch >= f.Epoch {
			return malformed(fmt.Sprintf("prepare lastEpoch %d must be below its epoch %d", f.LastEpoch, f.Epoch))
		}
	case TypePromise:
		if f.Epoch == 0 || f.Candidate == "" {
			return malformed("promise needs epoch >= 1 and a candidate")
		}
		if f.Granted && f.Promised != 0 && f.Promised != f.Epoch {
			return malformed(fmt.Sprintf("granted promise of epoch %d says promised %d", f.Epoch, f.Promised))
		}
		return f.validatePosition()
	case TypePull:
		if f.From == 0 || f.To < f.From {
			return malformed(fmt.Sprintf("pull needs 1 <= from <= to, got from %d to %d", f.From, f.To))
		}
	case TypeHandoff:
		if f.Epoch == 0 || f.Candidate == "" {
			return malformed("handoff needs epoch >= 1 and a candidate")
		}
	case TypePromote:
		if f.Name == "" {
			return malformed("promote needs a name")
		}
	}
	return nil
}

// validatePosition checks that a lastEpoch and the epochs sent with it
// agree: the position's epoch is the history's last.
func (f Frame) validatePosition() error {
	if n := len(f.Epochs); n > 0 && f.LastEpoch != f.Epochs[n-1].Epoch {
		return malformed(fmt.Sprintf("lastEpoch %d is not the last of epochs (%d)", f.LastEpoch, f.Epochs[n-1].Epoch))
	}
	return nil
}

// validateEpochs checks a history: epochs increase, and each starts at or
// after the one before it (an epoch may hold no message).
func validateEpochs(starts []EpochStart) error {
	if starts != nil && len(starts) == 0 {
		return malformed("epochs is empty (leave it out for no history)")
	}
	for i, s := range starts {
		if s.Epoch == 0 || s.FirstID == 0 {
			return malformed(fmt.Sprintf("epochs[%d] is [%d,%d]: epoch and firstId must be >= 1", i, s.Epoch, s.FirstID))
		}
		if i == 0 {
			continue
		}
		if p := starts[i-1]; s.Epoch <= p.Epoch || s.FirstID < p.FirstID {
			return malformed(fmt.Sprintf("epochs[%d] [%d,%d] does not follow [%d,%d]: epochs increase, firstIds never decrease",
				i, s.Epoch, s.FirstID, p.Epoch, p.FirstID))
		}
	}
	return nil
}

func validateEntries(entries []Entry) error {
	if len(entries) == 0 {
		return malformed("entries: at least one entry needed")
	}
	var epoch uint64
	for i, e := range entries {
		if e.ID == 0 {
			return malformed("entry id must be >= 1")
		}
		if i > 0 && e.ID != entries[i-1].ID+1 {
			return malformed(fmt.Sprintf("entry ids must be consecutive: %d follows %d", e.ID, entries[i-1].ID))
		}
		if e.Epoch != 0 {
			if e.Epoch < epoch {
				return malformed(fmt.Sprintf("entry %d: epoch %d after epoch %d (epochs never decrease)", e.ID, e.Epoch, epoch))
			}
			epoch = e.Epoch
		}
		if (e.Key == "") != (e.At == 0) || e.At < 0 {
			return malformed(fmt.Sprintf("entry %d: key and at (>= 1) go together, got key %q at %d", e.ID, e.Key, e.At))
		}
	}
	return nil
}

func malformed(why string) error { return fmt.Errorf("%w: %s", ErrMalformed, why) }
