package replication

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestMembership runs each rule of Membership as a script of steps at
// given times (a heartbeat every second, forgotten after a minute), then
// checks what Status says.
func TestMembership(t *testing.T) {
	const iv, forget = time.Second, time.Minute
	type step struct {
		at   time.Duration
		op   string // register, seen, hold, disconnect, forget
		name string
		sess SessionID
		id   uint64   // register: held; hold: held
		want []string // register: "replaced N"; forget: the names forgotten
	}
	type want struct {
		name      string
		status    Status
		connected bool
		acked     uint64
		gone      bool
	}
	cases := []struct {
		name  string
		steps []step
		at    time.Duration
		want  []want
	}{
		{
			name:  "a new secondary is healthy and holds what its hello says",
			steps: []step{{op: "register", name: "s1", sess: 1, id: 7}},
			want:  []want{{"s1", Healthy, true, 7, false}},
		},
		{
			name: "a disconnected secondary is gone once a new name joins after it",
			steps: []step{
				{op: "register", name: "s1", sess: 1},
				{op: "register", name: "s2", sess: 2},
				{at: 2 * iv, op: "disconnect", name: "s1", sess: 1},
				{at: 3 * iv, op: "register", name: "s3", sess: 3},
			},
			at:   3 * iv,
			want: []want{{"s1", Unhealthy, false, 0, true}, {"s2", Suspected, true, 0, false}, {"s3", Healthy, true, 0, false}},
		},
		{
			name: "a disconnected secondary is not gone for a session of a known name, nor for one before it left",
			steps: []step{
				{op: "register", name: "s1", sess: 1},
				{op: "register", name: "s2", sess: 2},
				{at: iv, op: "seen", name: "s1", sess: 1},
				{at: iv, op: "disconnect", name: "s1", sess: 1},
				{at: 2 * iv, op: "disconnect", name: "s2", sess: 2},
				{at: 3 * iv, op: "register", name: "s2", sess: 3},
			},
			at:   3 * iv,
			want: []want{{"s1", Unhealthy, false, 0, false}, {"s2", Healthy, true, 0, false}},
		},
		{
			name: "a gone secondary that comes back is listed again",
			steps: []step{
				{op: "register", name: "s1", sess: 1},
				{op: "disconnect", name: "s1", sess: 1},
				{at: iv, op: "register", name: "s2", sess: 2},
				{at: 2 * iv, op: "register", name: "s1", sess: 3},
				{at: 2 * iv, op: "seen", name: "s2", sess: 2},
			},
			at:   2 * iv,
			want: []want{{"s1", Healthy, true, 0, false}, {"s2", Healthy, true, 0, false}},
		},
		{
			name: "only the newest session of a name counts its acks",
			steps: []step{
				{op: "register", name: "s1", sess: 1},
				{op: "register", name: "s1", sess: 2, want: []string{"replaced 1"}},
				{op: "hold", name: "s1", sess: 1, id: 5},
			},
			want: []want{{"s1", Healthy, true, 0, false}},
		},
		{
			name: "a restarted, emptied secondary no longer holds what it held",
			steps: []step{
				{op: "register", name: "s1", sess: 1},
				{op: "hold", name: "s1", sess: 1, id: 5},
				{op: "register", name: "s1", sess: 2, want: []string{"replaced 1"}},
			},
			want: []want{{"s1", Healthy, true, 0, false}},
		},
		{
			name: "a replaced session's frames say nothing of the node's health",
			steps: []step{
				{op: "register", name: "s1", sess: 1},
				{op: "register", name: "s1", sess: 2, want: []string{"replaced 1"}},
				{at: 3 * iv, op: "seen", name: "s1", sess: 1},
			},
			at:   4 * iv,
			want: []want{{"s1", Unhealthy, true, 0, false}},
		},
		{
			name: "a replaced session ending leaves its successor connected",
			steps: []step{
				{op: "register", name: "s1", sess: 1},
				{op: "register", name: "s1", sess: 2, want: []string{"replaced 1"}},
				{op: "disconnect", name: "s1", sess: 1},
			},
			want: []want{{"s1", Healthy, true, 0, false}},
		},
		{
			name: "silence makes a secondary suspected, then unhealthy",
			steps: []step{
				{op: "register", name: "s1", sess: 1},
				{op: "register", name: "s2", sess: 2},
				{at: 2 * iv, op: "seen", name: "s2", sess: 2},
			},
			at:   2 * iv,
			want: []want{{"s1", Suspected, true, 0, false}, {"s2", Healthy, true, 0, false}},
		},
		{
			name: "a disconnected secondary stays listed, unhealthy, with what it held",
			steps: []step{
				{op: "register", name: "s1", sess: 1},
				{op: "hold", name: "s1", sess: 1, id: 3},
				{op: "disconnect", name: "s1", sess: 1},
				{at: forget - time.Nanosecond, op: "forget"},
			},
			at:   forget - time.Nanosecond,
			want: []want{{"s1", Unhealthy, false, 3, false}},
		},
		{
			name: "a secondary disconnected and silent for forgetAfter is forgotten",
			steps: []step{
				{op: "register", name: "s1", sess: 1},
				{op: "register", name: "s2", sess: 2},
				{op: "disconnect", name: "s1", sess: 1},
				{at: forget, op: "forget", want: []string{"s1"}},
			},
			at:   forget,
			want: []want{{"s2", Unhealthy, true, 0, false}},
		},
		{
			name: "a connected secondary is never forgotten, however silent",
			steps: []step{
				{op: "register", name: "s1", sess: 1},
				{at: 10 * forget, op: "forget"},
			},
			at:   10 * forget,
			want: []want{{"s1", Unhealthy, true, 0, false}},
		},
		{
			name: "forgetting counts from the last time it was heard from",
			steps: []step{
				{op: "register", name: "s1", sess: 1},
				{at: forget / 2, op: "seen", name: "s1", sess: 1},
				{at: forget / 2, op: "disconnect", name: "s1", sess: 1},
				{at: forget, op: "forget"},
			},
			at:   forget,
			want: []want{{"s1", Unhealthy, false, 0, false}},
		},
		{
			name: "a forgotten name that comes back starts over",
			steps: []step{
				{op: "register", name: "s1", sess: 1},
				{op: "hold", name: "s1", sess: 1, id: 9},
				{op: "disconnect", name: "s1", sess: 1},
				{at: forget, op: "forget", want: []string{"s1"}},
				{at: forget, op: "register", name: "s1", sess: 2, id: 2},
			},
			at:   forget,
			want: []want{{"s1", Healthy, true, 2, false}},
		},
	}
	t0 := time.Unix(1000, 0)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMembership(iv, forget)
			for i, s := range c.steps {
				now := t0.Add(s.at)
				var got []string
				switch s.op {
				case "register":
					if replaced, _ := m.Register(s.name, s.sess, s.id, now); replaced != 0 {
						got = []string{fmt.Sprintf("replaced %d", replaced)}
					}
				case "seen":
					m.Seen(s.name, s.sess, now)
				case "hold":
					m.Hold(s.name, s.sess, s.id)
				case "disconnect":
					m.Disconnect(s.name, s.sess)
				case "forget":
					got = m.Forget(now)
				}
				if !slices.Equal(got, s.want) {
					t.Fatalf("step %d (%s %s): got %v, want %v", i, s.op, s.name, got, s.want)
				}
			}
			var got []want
			for _, s := range m.Status(t0.Add(c.at), 100) {
				got = append(got, want{s.Name, s.Status, s.Connected, s.AckedID, s.Gone})
				if s.Lag != 100-s.AckedID {
					t.Errorf("%s: lag %d with acked %d of 100", s.Name, s.Lag, s.AckedID)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("Status = %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestMembershipForgetsReplacedSooner: with an hour's forgetAfter, a
// gone (replaced) secondary is forgotten after ForgetReplacedAfter, while
// one that left with no newcomer after it stays listed.
func TestMembershipForgetsReplacedSooner(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m := NewMembership(time.Second, time.Hour)
	m.Register("s1", 1, 0, t0)
	m.Register("s2", 2, 0, t0)
	m.Disconnect("s1", 1)
	m.Register("s3", 3, 0, t0.Add(time.Second)) // s1's replacement
	m.Seen("s2", 2, t0.Add(2*time.Second))
	m.Disconnect("s2", 2) // heard from after s3 joined: no newcomer replaced it
	if got := m.Forget(t0.Add(ForgetReplacedAfter - time.Nanosecond)); len(got) != 0 {
		t.Fatalf("forgotten before ForgetReplacedAfter: %v", got)
	}
	if got := m.Forget(t0.Add(ForgetReplacedAfter)); !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("forgotten at ForgetReplacedAfter: %v, want [s1]", got)
	}
	if got := m.Forget(t0.Add(time.Hour - time.Nanosecond)); len(got) != 0 {
		t.Fatalf("forgotten before forgetAfter: %v", got)
	}
	if got := m.Forget(t0.Add(time.Hour + 2*time.Second)); !slices.Equal(got, []string{"s2"}) {
		t.Fatalf("forgotten at forgetAfter: %v, want [s2]", got)
	}
}

// TestMembershipWaits: positions satisfy waits whether they come from an
// ack or from a hello, and only the owner's do.
func TestMembershipWaits(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMembership(time.Second, time.Minute)
	w2 := NewWait(4, 2)
	w1 := NewWait(4, 1)
	if m.Add(w2) || m.Add(w1) {
		t.Fatal("a wait was satisfied with no secondary")
	}
	if _, done := m.Register("s1", 1, 5, now); !slices.Equal(done, []*Wait{w1}) {
		t.Fatalf("a hello holding id 5 satisfied %v, want the w=2 wait", done)
	}
	m.Register("s2", 2, 0, now)
	if done := m.Hold("s2", 9, 4); done != nil {
		t.Fatalf("an ack of a session that does not speak for s2 satisfied %v", done)
	}
	if done := m.Hold("s2", 2, 4); !slices.Equal(done, []*Wait{w2}) {
		t.Fatalf("s2's ack satisfied %v, want the w=3 wait", done)
	}
	if m.Acks(4) != 3 || m.Acks(6) != 1 || m.Waiting() != 0 {
		t.Fatalf("acks of 4: %d, of 6: %d; waiting %d", m.Acks(4), m.Acks(6), m.Waiting())
	}
	if m.HealthyNodes(now) != 3 || m.HealthyNodes(now.Add(4*time.Second)) != 1 {
		t.Fatalf("healthy nodes %d now, %d after four silent intervals", m.HealthyNodes(now), m.HealthyNodes(now.Add(4*time.Second)))
	}
}

// TestMembershipChanges: health changes are reported once each, in
// order, as the clock moves.
func TestMembershipChanges(t *testing.T) {
	const iv = time.Second
	t0 := time.Unix(1000, 0)
	m := NewMembership(iv, time.Minute)
	m.Register("s1", 1, 0, t0)
	steps := []struct {
		at   time.Duration
		do   func()
		want []StatusChange
	}{
		{0, nil, []StatusChange{{"s1", Unhealthy, Healthy}}},
		{iv, nil, nil},
		{2 * iv, nil, []StatusChange{{"s1", Healthy, Suspected}}},
		{3 * iv, nil, nil},
		{4 * iv, nil, []StatusChange{{"s1", Suspected, Unhealthy}}},
		{5 * iv, func() { m.Seen("s1", 1, t0.Add(5*iv)) }, []StatusChange{{"s1", Unhealthy, Healthy}}},
		{5 * iv, func() { m.Disconnect("s1", 1) }, []StatusChange{{"s1", Healthy, Unhealthy}}},
		{time.Hour, func() { m.Forget(t0.Add(time.Hour)) }, nil},
		{time.Hour, func() { m.Register("s1", 2, 0, t0.Add(time.Hour)) }, []StatusChange{{"s1", Unhealthy, Healthy}}},
	}
	for i, s := range steps {
		if s.do != nil {
			s.do()
		}
		if got := m.Changes(t0.Add(s.at)); !slices.Equal(got, s.want) {
			t.Fatalf("step %d: changes %v, want %v", i, got, s.want)
		}
	}
}
