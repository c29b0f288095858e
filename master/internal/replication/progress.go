package replication

import "sync/atomic"

// progress is how far one peer got: what its session sent it and what it
// acked. It is the one place that knows; two goroutines share it, each
// through methods of its own:
//
//   - the session's loop asks it what to send (next), says what it sent
//     (sent), rewinds it on a nack (nack), and, when the flow is full,
//     goes to sleep through it (sleep) until an ack wakes it;
//   - the session's reader records each ack (ack) with no hand-off to the
//     loop, and wakes the loop when it sleeps.
//
// The Flow inside is the loop's alone. Two words cross between the
// goroutines. highest is the most the peer may ack: the loop stores it
// before each write, as the ack may come back before the write returns.
// mail holds the newest ack and whether the loop sleeps waiting for one,
// in one word, so that each side of the wake-up takes one atomic step:
// the loop sleeps only by a compare-and-swap from the ack it took, which
// fails if a newer one came; the reader stores an ack by a swap that
// tells it whether the loop sleeps, and then wakes it. Whichever comes
// first, the loop is never left asleep with an ack it has not taken.
type progress struct {
	flow     Flow            // the loop's alone
	observer bool            // observers never ack, and the flow never waits for them
	highest  atomic.Uint64   // the highest id sent: stored by the loop, read by the reader
	mail     atomic.Uint64   // ack<<1 | asleep: the ack stored by the reader, the bit set by the loop
	wake     chan<- struct{} // the loop's wake-up, capacity 1
}

// asleep is mail's low bit: the loop sleeps until an ack beyond the one in
// mail frees its flow.
const asleep = 1

// newProgress starts the progress of a peer that holds every id before
// from; the reader wakes the loop on wake.
func newProgress(from, window uint64, maxFrames int, observer bool, wake chan<- struct{}) *progress {
	p := &progress{flow: NewFlow(from, window, maxFrames, observer), observer: observer, wake: wake}
	p.highest.Store(from - 1) // the peer holds those: it may ack them
	p.mail.Store((from - 1) << 1)
	return p
}

// next takes the acks the reader stored and returns the n ids, from from
// and at most max, to send given the log's last id. full says the flow
// waits for an ack before it sends more (see sleep). Only the loop calls
// it.
func (p *progress) next(last uint64, max int) (from uint64, n int, full bool, err error) {
	if err := p.take(p.mail.Load() >> 1); err != nil {
		return 0, 0, false, err
	}
	from, n = p.flow.Next(last, max)
	return from, n, n == 0 && from <= last && !p.observer, nil
}

// sent records that the loop is about to write the n ids next returned.
// Only the loop calls it.
func (p *progress) sent(n int) {
	p.flow.Sent(n)
	p.highest.Store(p.flow.Highest()) // before the write: its ack may come back before the write returns
}

// nack rewinds the flow to from, after taking the acks the peer sent
// before the nack. Only the loop calls it.
func (p *progress) nack(from uint64) error {
	if err := p.take(p.mail.Load() >> 1); err != nil {
		return err
	}
	p.flow.Nack(from)
	return nil
}

// sleep tells the reader that the loop, whose flow next said is full,
// waits for an ack to wake it. It reports false when an ack came since
// next took them: the loop must look again rather than wait. Only the
// loop calls it.
func (p *progress) sleep() bool {
	took := p.flow.Acked() << 1
	if p.mail.CompareAndSwap(took, took|asleep) {
		return true
	}
	// Already asleep on the same ack (woken by something else, and full
	// again), or a newer ack came.
	return p.mail.Load() == took|asleep
}

// take gives the flow what the peer acked. The reader checked the ack
// against what was sent; the flow checks again.
func (p *progress) take(id uint64) error {
	if id <= p.flow.Acked() {
		return nil
	}
	if !p.flow.Ack(id) {
		return protocolErrorf("ack for id %d, which was never sent", id)
	}
	return nil
}

// ack records that the peer holds every id up to id, and wakes the loop
// if it sleeps. It reports whether that is news; an ack for ids never
// sent is an error. Only the reader calls it.
func (p *progress) ack(id uint64) (news bool, err error) {
	if id > p.highest.Load() {
		return false, protocolErrorf("ack for id %d, which was never sent", id)
	}
	if id <= p.mail.Load()>>1 { // only the reader moves the ack: it cannot move before the swap
		return false, nil
	}
	if p.mail.Swap(id<<1)&asleep != 0 {
		select {
		case p.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return true, nil
}

// acked is the highest id the peer holds, for when the session ended.
func (p *progress) acked() uint64 {
	return max(p.mail.Load()>>1, p.flow.Acked()) // an observer acks nothing: its flow counts what was sent
}
