package ballot

import (
	"errors"
	"testing"

	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/store"
)

// disk is a promise store that can fail, and records what was saved.
type disk struct {
	saved []store.Promise
	fail  bool
}

func (d *disk) save(p store.Promise) error {
	if d.fail {
		return errors.New("disk full")
	}
	d.saved = append(d.saved, p)
	return nil
}

func TestPromiseIsOnDiskBeforeTheHookAndTheAnswer(t *testing.T) {
	d := &disk{}
	b := New(election.Promise{Epoch: 1}, false, "m1", d.save)
	var hooked []election.Promise
	b.OnPromise(func(p election.Promise) {
		if len(d.saved) == 0 || d.saved[len(d.saved)-1].Promise != p {
			t.Errorf("hook saw %v before it was saved (saved %v)", p, d.saved)
		}
		hooked = append(hooked, p)
	})
	if _, err := b.Prepare(3, "m2"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Prepare(3, "m2"); err != nil { // a lost answer asked again: nothing new to save
		t.Fatal(err)
	}
	if _, err := b.Prepare(3, "m3"); !errors.Is(err, election.ErrPromisedOther) {
		t.Fatalf("second candidate of epoch 3: %v", err)
	}
	if err := b.Accept(2, "m1"); !errors.Is(err, election.ErrStaleEpoch) {
		t.Fatalf("leader of epoch 2 after promising 3: %v", err)
	}
	if err := b.Accept(3, "m2"); err != nil {
		t.Fatal(err)
	}
	if len(d.saved) != 1 || len(hooked) != 1 {
		t.Fatalf("saved %v, hooked %v; want one promise {3 m2}", d.saved, hooked)
	}
	if err := b.Check(3, "m2"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stand("m1", 3); err != nil {
		t.Fatal(err)
	}
	if got := b.Promised(); got != (election.Promise{Epoch: 4, To: "m1"}) {
		t.Fatalf("stood for %v", got)
	}
	if err := b.Check(3, "m2"); !errors.Is(err, election.ErrStaleEpoch) {
		t.Fatalf("frames of the leader of 3 after standing for 4: %v", err)
	}
}

func TestAFailedSaveGrantsNothing(t *testing.T) {
	d := &disk{fail: true}
	b := New(election.Promise{}, false, "m1", d.save)
	b.OnPromise(func(p election.Promise) { t.Errorf("hook called for %v that is not on disk", p) })
	if _, err := b.Prepare(1, "m1"); err == nil {
		t.Fatal("granted a promise that could not be saved")
	}
	if err := b.Accept(2, "m1"); err == nil {
		t.Fatal("accepted a leader whose promise could not be saved")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Load("", "m1", false); !errors.Is(err, ErrNoDataDir) {
		t.Fatalf("no data dir: %v", err)
	}
	p, learner, err := Load(dir, "m1", false)
	if err != nil || !learner || p.Epoch != 0 {
		t.Fatalf("empty dir of an existing cluster: %v %v %v; want a learner", p, learner, err)
	}
	// The learner's promise.json is its first write: a restart (even
	// with CLUSTER_STATE=new left on) finds it.
	if _, learner, err = Load(dir, "m1", true); err != nil || !learner {
		t.Fatalf("restarted learner: learner %v, %v", learner, err)
	}
	dir2 := t.TempDir()
	if _, learner, err = Load(dir2, "m1", true); err != nil || learner {
		t.Fatalf("new cluster: learner %v, %v", learner, err)
	}
	d, err := store.OpenDisk(dir2, store.DiskOptions{NewLogID: "l"})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Promise(); got.Learner || got.Epoch != 0 {
		t.Fatalf("promise after open: %+v", got)
	}
	d.Close()
}

// TestADataDirSpeaksUnderOneName: promise.json records its node's name;
// the directory is refused to any other name, so that one directory
// never counts as two voters (a changed NODE_NAME, replicas that swapped
// volumes). A directory of a release before names were recorded becomes
// the first loader's.
func TestADataDirSpeaksUnderOneName(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Load(dir, "s1", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir, "s2", true); !errors.Is(err, ErrOtherNode) {
		t.Fatalf("s2 loading s1's directory: %v", err)
	}
	if owner, err := Owner(dir); err != nil || owner != "s1" {
		t.Fatalf("owner %q, %v", owner, err)
	}
	d := &disk{}
	b := New(election.Promise{}, false, "s1", d.save)
	if _, err := b.Prepare(2, "m1"); err != nil || d.saved[0].Node != "s1" {
		t.Fatalf("saved %+v, %v", d.saved, err)
	}
	old := t.TempDir()
	if err := store.WritePromise(old, store.Promise{Promise: election.Promise{Epoch: 3, To: "m2"}}); err != nil {
		t.Fatal(err)
	}
	p, _, err := Load(old, "s9", false)
	if owner, _ := Owner(old); err != nil || owner != "s9" || p.Epoch != 3 {
		t.Fatalf("an unnamed directory: promise %+v, owner %q, %v", p, owner, err)
	}
}

// TestALosingCandidateFollowsTheWinnerOfItsEpoch: a node that promised
// an epoch to itself, or to another candidate, that lost accepts the
// winner of that epoch (its promise now names the winner, on disk
// first), and still refuses any other node's leadership or candidacy of
// that epoch.
func TestALosingCandidateFollowsTheWinnerOfItsEpoch(t *testing.T) {
	d := &disk{}
	b := New(election.Promise{Epoch: 2, To: "m1"}, false, "m2", d.save)
	if _, err := b.Stand("m2", 2); err != nil { // stands for 3
		t.Fatal(err)
	}
	if err := b.Accept(3, "m3"); err != nil {
		t.Fatalf("the winner of the epoch it lost: %v", err)
	}
	if got := d.saved[len(d.saved)-1].Promise; got != (election.Promise{Epoch: 3, To: "m3"}) {
		t.Fatalf("saved %+v", got)
	}
	if err := b.Check(3, "m3"); err != nil {
		t.Fatal(err)
	}
	if err := b.Accept(3, "m1"); !errors.Is(err, election.ErrPromisedOther) {
		t.Fatalf("a second leader of epoch 3: %v", err)
	}
	if _, err := b.Prepare(3, "m1"); !errors.Is(err, election.ErrPromisedOther) {
		t.Fatalf("a second candidate of epoch 3: %v", err)
	}
	// A node that promised 3 to a candidate that lost (m4) follows the
	// winner too, promising it nothing.
	d2 := &disk{}
	other := New(election.Promise{Epoch: 3, To: "m4"}, false, "s1", d2.save)
	if err := other.Accept(3, "m3"); err != nil {
		t.Fatalf("the winner of an epoch promised to a candidate that lost: %v", err)
	}
	if got := d2.saved[len(d2.saved)-1].Promise; got != (election.Promise{Epoch: 3, To: "m3"}) {
		t.Fatalf("saved %+v", got)
	}
	if _, err := other.Prepare(3, "m4"); !errors.Is(err, election.ErrPromisedOther) {
		t.Fatalf("the losing candidate asked again: %v", err)
	}
}
