package replication

import (
	"testing"

	"github.com/replog/replog/shared/frame"
)

func TestDecide(t *testing.T) {
	cases := []struct {
		name    string
		hello   frame.Frame
		want    Start
		wantErr bool
	}{
		{"fresh secondary", frame.Hello("s1", frame.RoleSecondary, "", 0), Start{From: 1}, false},
		{"resumes after its last id", frame.Hello("s1", frame.RoleSecondary, "L", 7), Start{From: 8}, false},
		{"caught up", frame.Hello("s1", frame.RoleSecondary, "L", 10), Start{From: 11}, false},
		{"another log resyncs from 1", frame.Hello("s1", frame.RoleSecondary, "OLD", 7), Start{From: 1, Resync: true}, false},
		{"another log, empty", frame.Hello("s1", frame.RoleSecondary, "OLD", 0), Start{From: 1, Resync: true}, false},
		{"ahead of the master", frame.Hello("s1", frame.RoleSecondary, "L", 11), Start{}, true},
		{"observer from where it asks", frame.Hello("w", frame.RoleObserver, "", 4), Start{From: 5}, false},
		{"observer past the end waits for new ids", frame.Hello("w", frame.RoleObserver, "", 99), Start{From: 11}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decide("L", 1, 10, c.hello)
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("Decide = %+v, %v; want %+v, error %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

// TestDecideBehindRetention: a peer that lacks ids retention dropped
// starts at the first id held, told it is behind.
func TestDecideBehindRetention(t *testing.T) {
	for _, hello := range []frame.Frame{
		frame.Hello("s1", frame.RoleSecondary, "L", 3),
		frame.Hello("new", frame.RoleSecondary, "", 0),
		frame.Hello("other", frame.RoleSecondary, "M", 50),
	} {
		got, err := Decide("L", 40, 100, hello)
		if err != nil || got.From != 40 || !got.Behind {
			t.Errorf("%s holding %d with the log at 40..100: %+v %v", hello.Name, hello.LastID, got, err)
		}
	}
	if got, _ := Decide("L", 40, 100, frame.Hello("s1", frame.RoleSecondary, "L", 39)); got.From != 40 || got.Behind {
		t.Errorf("a peer holding 39 with the log at 40..100: %+v", got)
	}
}
