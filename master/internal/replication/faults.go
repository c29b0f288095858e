package replication

import "github.com/replog/replog/shared/frame"

// faultControl is a session's side of fault control: the changes asked of
// its peer and not yet answered. SetFaults hands a change in over
// requests; the loop, which owns the rest, sends it (ask) and hands the
// peer's answer to whoever asked (answer). It holds no lock and does no
// I/O: the loop writes the frame ask returns.
type faultControl struct {
	enabled  bool               // the hello said the peer takes fault changes
	inForce  *frame.Faults      // the faults the hello said are in force
	requests chan faultsRequest // SetFaults → the loop
	asked    []faultsRequest    // the loop's: sent, not yet answered, oldest first
	last     uint64             // the loop's: the id of the last change sent
}

// faultsRequest is a change of faults for the loop to send; the peer's
// answer goes to answer.
type faultsRequest struct {
	change frame.Faults
	answer chan frame.Frame // buffered: the loop never waits on an asker
	id     uint64           // given by ask
}

// maxAsked bounds the changes a session remembers as asked and not yet
// answered, for a secondary that never answers.
const maxAsked = 16

func newFaultControl(hello frame.Frame) faultControl {
	return faultControl{
		enabled:  hello.FaultsAPI && hello.Role != frame.RoleObserver,
		inForce:  hello.Faults,
		requests: make(chan faultsRequest),
	}
}

// ask gives req the next id, remembers it until its answer, and returns
// the frame that asks the peer for it. Beyond maxAsked the oldest change
// is forgotten: its asker gave up long ago.
func (c *faultControl) ask(req faultsRequest) frame.Frame {
	c.last++
	req.id = c.last
	if len(c.asked) == maxAsked {
		c.asked = c.asked[1:]
	}
	c.asked = append(c.asked, req)
	return frame.Frame{Type: frame.TypeFaults, ID: req.id, Faults: &req.change}
}

// answer hands the peer's answer f to the change it answers. An answer
// carries the id of its change; a change made on the secondary's own API
// carries none. Changes asked before the one answered were never answered
// (their askers have given up): forgotten.
func (c *faultControl) answer(f frame.Frame) {
	if f.ID == 0 {
		return
	}
	for len(c.asked) > 0 && c.asked[0].id <= f.ID {
		if c.asked[0].id == f.ID {
			c.asked[0].answer <- f
		}
		c.asked = c.asked[1:]
	}
}
