package follow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/replog/replog/shared/frame"
)

// A pull is answered in pulled frames of at most this many entries and
// about this many bytes of messages.
const (
	pullMaxEntries = 1024
	pullMaxBytes   = 256 << 10
)

// vote is a voting link's life, after a welcome with leader: false: it
// echoes heartbeats, answers a candidate's prepares and pulls, and ends
// on anything else (a protocol error), on an error frame, or when the
// node falls silent for four heartbeat intervals.
func (c *Client) vote(conn *websocket.Conn, out *frame.Writer, w frame.Frame) error {
	silence := time.Duration(frame.UnhealthyAfter) * time.Duration(w.HeartbeatMs) * time.Millisecond
	r := frame.NewReader(conn, silence)
	for {
		_, data, err := r.Read()
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s silent for %s (%d heartbeat intervals)", w.Name, silence, frame.UnhealthyAfter)
		}
		if err != nil {
			return fmt.Errorf("read from %s: %w", w.Name, err)
		}
		f, err := frame.Decode(data)
		if err != nil {
			_ = c.write(out, frame.Error(err.Error()))
			return err
		}
		switch f.Type {
		case frame.TypeHeartbeat:
			err = c.write(out, f)
		case frame.TypeError:
			return fmt.Errorf("%s reported: %s", w.Name, f.Error)
		default:
			err = c.answerCandidate(out, f)
		}
		if err != nil {
			return err
		}
	}
}

// answerLeader answers, on the following link, the frames that are not
// the stream's own: a handoff goes to OnHandoff; prepares and pulls are
// answered as on a voting link.
func (c *Client) answerLeader(out *frame.Writer, t *term, f frame.Frame) error {
	if f.Type == frame.TypeHandoff {
		if c.onHandoff != nil {
			c.onHandoff(f)
		}
		return nil
	}
	if err := c.answerCandidate(out, f); err != nil {
		return err
	}
	// A promise of a higher epoch, just given, ends the following at once
	// rather than at the leader's next frame.
	if err := t.stillAccepted(); err != nil {
		_ = c.write(out, frame.Error(err.Error()))
		return err
	}
	return nil
}

// answerCandidate answers a prepare or a pull; any other frame is a
// protocol error, answered with an error frame before the link closes.
func (c *Client) answerCandidate(out *frame.Writer, f frame.Frame) error {
	switch f.Type {
	case frame.TypePrepare:
		return c.answerPrepare(out, f)
	case frame.TypePull:
		return c.answerPull(out, f)
	}
	err := fmt.Errorf("%w: unexpected %s frame", frame.ErrMalformed, f.Type)
	_ = c.write(out, frame.Error(err.Error()))
	return err
}

// answerPrepare asks the ballot for the promise (on disk, and its hooks
// run, when Prepare returns) and only then answers: granted with the
// log's position and history read after the promise, or refused with
// the epoch promised and why.
//
// While it follows a leader, the node refuses other candidates without
// promising anything (leader stickiness, as Raft's followers ignore votes
// while they hear a leader): a standby cut off from the leader alone, or
// one that stood a moment before the leader's frames reached it, would
// otherwise depose a leader that a majority still hears. Safety does not
// rest on it (a refusal is always safe); the following link ends four
// silent heartbeats after the leader goes, and the candidate asks again.
func (c *Client) answerPrepare(out *frame.Writer, f frame.Frame) error {
	if l := c.fo.leader.Load(); l != nil && l.name != f.Candidate {
		return c.write(out, frame.Frame{Type: frame.TypePromise, Epoch: f.Epoch, Candidate: f.Candidate,
			Promised: c.ballot.Promised().Epoch,
			Error:    fmt.Sprintf("following %s, leader of epoch %d, whose frames still come", l.name, l.epoch)})
	}
	p, err := c.ballot.Prepare(f.Epoch, f.Candidate)
	if err != nil {
		return c.write(out, frame.Frame{Type: frame.TypePromise, Epoch: f.Epoch, Candidate: f.Candidate,
			Promised: p.Epoch, Error: err.Error()})
	}
	c.fo.writeMu.Lock() // after any append the following link began before the promise
	h, last, first := c.store.History(), c.store.LastID(), c.store.FirstID()
	c.fo.writeMu.Unlock()
	return c.write(out, frame.Frame{Type: frame.TypePromise, Epoch: f.Epoch, Candidate: f.Candidate, Granted: true,
		LastEpoch: h.Last(), LastID: last, FirstID: first, Epochs: wireHistory(h), LogID: c.store.LogID()})
}

// answerPull sends the entries from..to in pulled frames, each with its
// epoch (0 for 1) and key. A range the log does not hold is answered
// with an error frame, and the link stays.
func (c *Client) answerPull(out *frame.Writer, f frame.Frame) error {
	first, last := c.store.FirstID(), c.store.LastID()
	if f.From < first || f.To > last {
		return c.write(out, frame.Error(fmt.Sprintf("pull %d..%d: this node holds %d..%d", f.From, f.To, first, last)))
	}
	var buf []frame.Entry
	for from := f.From; from <= f.To; {
		var err error
		buf, err = c.store.Read(buf[:0], from, int(min(f.To-from+1, pullMaxEntries)), pullMaxBytes)
		if err != nil {
			return c.write(out, frame.Error(fmt.Sprintf("pull %d..%d: read %d: %v", f.From, f.To, from, err)))
		}
		if len(buf) == 0 || buf[0].ID != from {
			return c.write(out, frame.Error(fmt.Sprintf("pull %d..%d: id %d is no longer held", f.From, f.To, from)))
		}
		if err := c.writeRaw(out, frame.TypePulled, frame.AppendPulled(nil, buf)); err != nil {
			return err
		}
		from = buf[len(buf)-1].ID + 1
	}
	return nil
}
