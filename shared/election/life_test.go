package election

import (
	"testing"
	"time"
)

func TestLivesOnlyGrow(t *testing.T) {
	ls := Lives{}
	if !ls.Learn("a", Life{Epoch: 2, Round: 1}) {
		t.Fatal("a first life was not learnt")
	}
	if ls.Learn("a", Life{Epoch: 1, Round: 9}) || ls.Learn("a", Life{Epoch: 2, Round: 1}) {
		t.Fatal("an older or equal life changed the table")
	}
	if !ls.Merge(Lives{"a": {Epoch: 2, Round: 3}, "b": {Epoch: 1, Round: 1}}) || ls["a"] != (Life{Epoch: 2, Round: 3}) {
		t.Fatalf("Merge did not learn the newer lives: %v", ls)
	}
}

// TestCandidateDropsAPromiseFromAnEndedLife: a promise counts only if no
// other promise shows its node re-admitted since; in either order of
// arrival.
func TestCandidateDropsAPromiseFromAnEndedLife(t *testing.T) {
	own := OfferOf(hist(1, 1), 3)
	news := own
	news.Lives = Lives{"l": {Epoch: 1, Round: 2}}
	for _, order := range []string{"old first", "news first"} {
		t.Run(order, func(t *testing.T) {
			tl := NewTally(2, "c", own, 5, t0.Add(time.Second))
			if order == "old first" {
				tl.Granted("l", 2, own) // given before l's wipe: life zero
				tl.Granted("x", 2, news)
			} else {
				tl.Granted("x", 2, news)
				tl.Granted("l", 2, own)
			}
			if tl.Won() {
				t.Fatal("won with a promise its giver forgot")
			}
			reborn := own
			reborn.Life = Life{Epoch: 1, Round: 2}
			tl.Granted("l", 2, reborn) // asked again, l promises in its new life
			if !tl.Won() {
				t.Fatal("not won with l's promise from its current life")
			}
		})
	}
}
