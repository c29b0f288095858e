package election

import (
	"errors"
	"testing"
)

func TestLearnerIsKnownFromItsFirstWriteOnward(t *testing.T) {
	p := &Promise{Epoch: 4, To: "a"}
	cases := []struct {
		name       string
		d          DataDir
		clusterNew bool
		want       Promise
		learner    bool
		err        error
	}{
		{"empty: a wiped node", DataDir{}, false, Promise{}, true, nil},
		{"empty at the cluster's creation", DataDir{}, true, Promise{}, false, nil},
		{"a learner that crashed after its first record", DataDir{Promise: &Promise{}, Learner: true, Meta: true, Records: true}, false, Promise{}, true, nil},
		{"a learner that crashed before meta.json", DataDir{Promise: &Promise{}, Learner: true}, false, Promise{}, true, nil},
		{"a voter", DataDir{Promise: p, Meta: true, Records: true, Epochs: true}, false, *p, false, nil},
		{"an older release's data directory", DataDir{Meta: true, Records: true}, false, Promise{Epoch: 1}, false, nil},
		{"an older release's, no message yet", DataDir{Meta: true}, false, Promise{Epoch: 1}, false, nil},
		{"epochs.json without promise.json", DataDir{Meta: true, Records: true, Epochs: true}, false, Promise{}, false, ErrUnknownDataDir},
		{"records without meta.json", DataDir{Records: true}, false, Promise{}, false, ErrUnknownDataDir},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, learner, err := Opened(c.d, c.clusterNew)
			if !errors.Is(err, c.err) || (err == nil && (got != c.want || learner != c.learner)) {
				t.Fatalf("Opened = %v, learner %v, %v; want %v, learner %v, %v", got, learner, err, c.want, c.learner, c.err)
			}
		})
	}
}
