package frame

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Faults are a secondary's injected faults. In a faults frame from the
// master they are the changes to make (an absent field stays as it is);
// from a secondary (its hello, its answer to a change) they are what is
// in force, every field set.
type Faults struct {
	// ReplicationDelay is a wait before each batch is applied, in the form
	// ParseDelay reads.
	ReplicationDelay *string `json:"replicationDelay,omitempty"`
	// FailRate is the probability that an append frame is refused (0..1).
	FailRate *float64 `json:"failRate,omitempty"`
	// CutOff makes the secondary stop applying, acking and answering
	// heartbeats while it keeps its connection, as in a partition.
	CutOff *bool `json:"cutOff,omitempty"`
}

// Validate checks the values, with the rules of the environment
// variables REPLICATION_DELAY and FAIL_RATE.
func (f Faults) Validate() error {
	if f.ReplicationDelay != nil {
		if _, err := ParseDelay(*f.ReplicationDelay); err != nil {
			return fmt.Errorf("replicationDelay: %w", err)
		}
	}
	if f.FailRate != nil && (*f.FailRate < 0 || *f.FailRate > 1 || *f.FailRate != *f.FailRate) {
		return fmt.Errorf("failRate: must be a probability from 0 to 1, got %v", *f.FailRate)
	}
	return nil
}

// DecodeFaults reads a change of faults, as PUT …/faults bodies carry it:
// one JSON object with any of replicationDelay, failRate and cutOff,
// spelled exactly so (encoding/json alone would take any case), and
// checks its values.
func DecodeFaults(r io.Reader) (Faults, error) {
	var f Faults
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(r)
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return f, fmt.Errorf("body must be a JSON object with any of replicationDelay, failRate, cutOff: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return f, errors.New("body must hold one JSON object")
	}
	if len(raw) == 0 {
		return f, errors.New("name at least one of replicationDelay, failRate, cutOff")
	}
	for k, v := range raw {
		var err error
		switch k {
		case "replicationDelay":
			err = json.Unmarshal(v, &f.ReplicationDelay)
		case "failRate":
			err = json.Unmarshal(v, &f.FailRate)
		case "cutOff":
			err = json.Unmarshal(v, &f.CutOff)
		default:
			return Faults{}, fmt.Errorf("unknown field %q (known: replicationDelay, failRate, cutOff)", k)
		}
		if err != nil || string(v) == "null" {
			return Faults{}, fmt.Errorf("%s: %s is not a %s", k, v, map[string]string{
				"replicationDelay": "string such as \"500ms-2s\"", "failRate": "number", "cutOff": "boolean"}[k])
		}
	}
	return f, f.Validate()
}

// Delay is a wait before an incoming append is applied: fixed when Min
// equals Max, uniform in [Min, Max] otherwise.
type Delay struct{ Min, Max time.Duration }

// ParseDelay reads "0", a duration ("1s") or a range ("500ms-2s").
func ParseDelay(s string) (Delay, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return Delay{}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	min, err1 := time.ParseDuration(lo)
	max, err2 := time.ParseDuration(hi)
	if err1 != nil || err2 != nil || min < 0 || max < min {
		return Delay{}, fmt.Errorf("want 0, a duration such as 1s, or a range such as 500ms-2s; got %q", s)
	}
	return Delay{Min: min, Max: max}, nil
}

// Decode lets envconfig read a Delay from REPLICATION_DELAY.
func (d *Delay) Decode(s string) error {
	v, err := ParseDelay(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// String gives the delay back in the form ParseDelay reads.
func (d Delay) String() string {
	switch {
	case d.Max == 0:
		return "0"
	case d.Min == d.Max:
		return d.Min.String()
	}
	return d.Min.String() + "-" + d.Max.String()
}
