package election_test

import (
	"flag"
	"testing"
)

var (
	simSeed  = flag.Uint64("sim.seed", 0, "replay one seed of TestSimulation")
	simSeeds = flag.Int("sim.seeds", 400, "how many seeds TestSimulation runs")
	simSteps = flag.Int("sim.steps", 800, "steps per seed")
)

// TestSimulation runs the simulation for many seeds. A failure prints the
// seed; -sim.seed=N replays it exactly.
func TestSimulation(t *testing.T) {
	total := 0
	for _, a := range actions {
		total += a.weight
	}
	if total != 1000 {
		t.Fatalf("the actions' weights add up to %d, not 1000: some are never taken", total)
	}
	first, n := uint64(1), uint64(*simSeeds)
	if *simSeed != 0 {
		first, n = *simSeed, 1
	}
	var sum stats
	for seed := first; seed < first+n; seed++ {
		st, err := runSim(seed, *simSteps)
		if err != nil {
			t.Fatalf("%v\nreplay: go test -run TestSimulation -sim.seed=%d -sim.steps=%d", err, seed, *simSteps)
		}
		sum.leaders += st.leaders
		sum.majorityAcks += st.majorityAcks
		sum.repeats += st.repeats
		sum.rolledBack += st.rolledBack
		sum.copies += st.copies
		sum.crashes += st.crashes
		sum.demotions += st.demotions
		sum.wipes += st.wipes
		sum.readmitted += st.readmitted
		sum.switchovers += st.switchovers
		sum.switched += st.switched
		sum.wonOver += st.wonOver
	}
	t.Logf("%d seeds × %d steps: %+v", n, *simSteps, sum)
	// A run that never elected twice, acknowledged, rolled back, copied
	// or re-admitted a learner tested nothing (a readmission rule that
	// never lets a learner vote again would pass every check); nor one
	// where no node followed the winner of an epoch it promised another.
	if n > 50 && (sum.leaders < int(n) || sum.majorityAcks == 0 || sum.rolledBack == 0 || sum.copies == 0 || sum.demotions == 0 || sum.switched == 0 || sum.readmitted == 0 || sum.wonOver == 0) {
		t.Fatalf("the simulation exercised too little: %+v", sum)
	}
}

// TestSimulationReplaysExactly: the same seed gives the same run, step
// for step, so a printed seed is a reproduction.
func TestSimulationReplaysExactly(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		a, b := newSim(seed), newSim(seed)
		for i := range 600 {
			a.step()
			b.step()
			if a.dump() != b.dump() || len(a.net) != len(b.net) || !a.now.Equal(b.now) {
				t.Fatalf("seed %d parted at step %d:\n%s\n%s", seed, i, a.dump(), b.dump())
			}
		}
		if a.stats != b.stats {
			t.Fatalf("seed %d: stats %+v and %+v", seed, a.stats, b.stats)
		}
	}
}

// FuzzSimulation lets go test -fuzz FuzzSimulation explore seeds and
// lengths; a failing input replays exactly from testdata/fuzz.
func FuzzSimulation(f *testing.F) {
	f.Add(uint64(1), uint16(400))
	f.Add(uint64(7), uint16(2000))
	f.Fuzz(func(t *testing.T, seed uint64, steps uint16) {
		if _, err := runSim(seed, int(steps%3000)); err != nil {
			t.Fatal(err)
		}
	})
}
