package election

import (
	"errors"
	"fmt"
	"time"

	"github.com/replog/replog/shared/epoch"
)

// Majority is how many nodes of a cluster of size clusterSize make a
// majority: any two such sets share a node. Secondaries count: they vote.
func Majority(clusterSize int) int { return clusterSize/2 + 1 }

// Offer is what a granted promise carries about the promiser's log: its
// position and its epoch history, from which the candidate finds what it
// lacks without another round trip.
type Offer struct {
	Position epoch.Position
	History  epoch.History
	FirstID  uint64 // the promiser's first id (retention); 0 or 1: it holds its log from id 1
	Life     Life   // the promiser's voting life (see Life)
	Lives    Lives  // what the promiser knows of the others' lives
}

// OfferOf returns the offer of a log with history h holding up to last.
func OfferOf(h epoch.History, last uint64) Offer {
	return Offer{Position: epoch.PositionOf(h, last), History: h}
}

// Tally is one candidacy: the promises a candidate collected for its
// epoch. It decides when the candidate has a majority, whom it must copy
// from and what, and when it may lead. A candidacy is volatile: a
// candidate that crashes starts a new one, for a higher epoch.
type Tally struct {
	epoch    uint64
	self     string
	majority int
	deadline time.Time
	offers   map[string]Offer // promiser → its log when it promised; self included
	above    uint64           // the highest epoch a refusal named
	need     string           // a promiser the candidacy cannot win without; "" for none
	lives    Lives            // the latest life of each node that any promise showed
}

// NewTally starts the candidacy of self for epoch e, whose promise to
// itself is on disk and whose log is own, in a cluster of clusterSize
// nodes; it is over at deadline (the candidate's own clock).
func NewTally(e uint64, self string, own Offer, clusterSize int, deadline time.Time) *Tally {
	return &Tally{
		epoch: e, self: self, majority: Majority(clusterSize), deadline: deadline,
		offers: map[string]Offer{self: own}, lives: Lives{},
	}
}

// Epoch is the epoch the candidacy is for.
func (t *Tally) Epoch() uint64 { return t.epoch }

// Granted counts the promise of from for epoch e, with the log it
// offered; promises for another epoch are ignored, and a promiser counts
// once however often it answers. A promise from a life that another
// promise shows to have ended (its node lost its data directory and was
// re-admitted since) counts for nothing: that node forgot it, and may
// give the same epoch to another candidate.
func (t *Tally) Granted(from string, e uint64, o Offer) {
	if e != t.epoch {
		return
	}
	t.offers[from] = o
	t.lives.Merge(o.Lives)
	t.lives.Learn(from, o.Life)
}

// counts reports whether the promise of name counts: given, and from
// the latest life of name the candidacy knows.
func (t *Tally) counts(name string) bool {
	o, ok := t.offers[name]
	return ok && !o.Life.Less(t.lives[name])
}

// Promised records a promise the candidate's own voter persisted after
// it stood (it granted another node's prepare): any promise other than
// the one it gave itself for this epoch is for a higher epoch, and ends
// the candidacy at once. Going on would lead an epoch whose electors
// the candidate had just helped another candidacy outrank, with a log
// that candidacy counted as the candidate's last.
func (t *Tally) Promised(p Promise) {
	if p != (Promise{Epoch: t.epoch, To: t.self}) {
		t.above = max(t.above, p.Epoch, t.epoch)
	}
}

// Refused records a refusal naming the epoch its sender promised: at or
// above this candidacy's, it can never win.
func (t *Tally) Refused(promised uint64) { t.above = max(t.above, promised) }

// Over reports whether the candidacy has ended without leading: its time
// ran out, or a refusal showed a promise at or above its epoch. A
// candidacy that lasts at most its timeout bounds how long a promise
// given to it can matter (see "Wiped nodes" in docs/FAILOVER.md).
func (t *Tally) Over(now time.Time) bool {
	return !now.Before(t.deadline) || t.above >= t.epoch
}

// Need makes the candidacy win only with node's promise among the
// majority. A standby that stands at a switchover needs its old leader's:
// that leader stops leading when it grants, and offers its log as it is
// then, so the candidate copies whatever the leader took, even writes
// taken after its handoff lapsed; "a switchover loses nothing" then rests
// on no clock.
func (t *Tally) Need(node string) { t.need = node }

// Won reports whether a majority of the cluster, the candidate included,
// promised the epoch, the needed promiser among them.
func (t *Tally) Won() bool {
	if t.need != "" && !t.counts(t.need) {
		return false
	}
	n := 0
	for name := range t.offers {
		if t.counts(name) {
			n++
		}
	}
	return n >= t.majority
}

// Source returns the most up-to-date promiser and its offer: the log the
// candidate must hold before it leads. The candidate itself wins a tie,
// then the smallest name, so the answer does not depend on map order.
func (t *Tally) Source() (string, Offer) {
	best, bo := t.self, t.offers[t.self]
	for name, o := range t.offers {
		if !t.counts(name) {
			continue
		}
		c := o.Position.Compare(bo.Position)
		if c > 0 || (c == 0 && best != t.self && name < best) {
			best, bo = name, o
		}
	}
	return best, bo
}

// Copy is what a candidate must do to hold its source's log: keep its own
// log up to Keep (rolling back the rest), then copy Keep+1..Through from
// Source.
type Copy struct {
	Source  string
	Keep    uint64
	Through uint64
	History epoch.History // the source's, to adopt as the copy goes
	// Restart: the source's retention dropped Keep+1, so the candidate,
	// after rolling back beyond Keep, drops the rest of its log (shared
	// with the source, not diverged) and restarts it at From, as a
	// follower behind its leader's retention does. Otherwise From is
	// Keep+1.
	Restart bool
	From    uint64
}

// ErrSourceChanged: a pulled entry is not the one the source's promised
// log holds at that id: the source follows another leader since.
var ErrSourceChanged = errors.New("the source's log changed since it promised")

// Take checks an entry pulled from the source, at id with epoch e, for
// a candidate whose log holds up to last: it must be the next id, at most
// Through, and of the epoch the history the source promised with gives
// it. Anything else means the source's log changed since it promised (a
// higher leader truncated it); copying on would mix two histories, so the
// candidacy ends.
func (c Copy) Take(id, e, last uint64) error {
	if id != last+1 || id > c.Through || e != c.History.Of(id) {
		return fmt.Errorf("pull id %d (epoch %d) from %s after %d: %w", id, e, c.Source, last, ErrSourceChanged)
	}
	return nil
}

// Plan returns what the candidate, whose log is now own, must copy before
// it may lead; ok is false when it holds the most up-to-date log already.
func (t *Tally) Plan(own Offer) (c Copy, ok bool) {
	name, src := t.Source()
	if own.Position.Compare(src.Position) >= 0 {
		return Copy{}, false
	}
	keep := epoch.Diverge(src.History, src.Position.ID, own.History, own.Position.ID)
	c = Copy{Source: name, Keep: keep, Through: src.Position.ID, History: src.History, From: keep + 1}
	if src.FirstID > keep+1 {
		c.Restart, c.From = true, src.FirstID
	}
	return c, true
}

// MayLead reports whether the candidate, whose log is now at own, may
// start its epoch: a majority promised, and its log is at least as up to
// date as every promiser's.
func (t *Tally) MayLead(own epoch.Position, now time.Time) bool {
	if !t.Won() || t.Over(now) {
		return false
	}
	_, src := t.Source()
	return own.Compare(src.Position) >= 0
}

// Start is the epoch start the candidate persists when it leads with a
// log holding up to last: the first id it will give is last+1.
func (t *Tally) Start(last uint64) epoch.Start {
	return epoch.Start{Epoch: t.epoch, FirstID: last + 1}
}
