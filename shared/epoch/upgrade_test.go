package epoch

import (
	"errors"
	"testing"
)

func TestFollowerAheadOfItsLeaderInEpochOneIsRefused(t *testing.T) {
	one := History{{Epoch: 1, FirstID: 1}}
	two := History{{Epoch: 1, FirstID: 1}, {Epoch: 2, FirstID: 8}}
	cases := []struct {
		name         string
		leader       History
		leaderLast   uint64
		follower     History
		followerLast uint64
		refused      bool
	}{
		{"both in epoch 1, the follower ahead", one, 7, one, 9, true},
		{"both in epoch 1, the follower behind", one, 9, one, 7, false},
		{"both in epoch 1, level", one, 9, one, 9, false},
		{"a wiped follower", one, 9, nil, 0, false},
		{"the leader is past epoch 1: the histories settle it", two, 8, one, 9, false},
		{"the follower is past epoch 1", one, 7, two, 9, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckEpochOne(c.leader, c.leaderLast, c.follower, c.followerLast)
			if (err != nil) != c.refused || (err != nil && !errors.Is(err, ErrAheadInEpochOne)) {
				t.Fatalf("CheckEpochOne = %v, want refused %v", err, c.refused)
			}
		})
	}
}
