package election

import (
	"errors"
	"testing"
)

func TestNodesThatCountMajoritiesDifferentlyRefuseEachOther(t *testing.T) {
	v := VoterSet{Size: 5, Peers: []string{"https://a:8080", "https://b:8080"}}
	cases := []struct {
		name string
		peer VoterSet
		ok   bool
	}{
		{"the same set", VoterSet{Size: 5, Peers: []string{"https://a:8080", "https://b:8080"}}, true},
		{"PEERS in another order", VoterSet{Size: 5, Peers: []string{"https://b:8080", "https://a:8080"}}, true},
		{"another CLUSTER_SIZE", VoterSet{Size: 3, Peers: []string{"https://a:8080", "https://b:8080"}}, false},
		{"another PEERS", VoterSet{Size: 5, Peers: []string{"https://a:8080", "https://c:8080"}}, false},
		{"one peer more", VoterSet{Size: 5, Peers: []string{"https://a:8080", "https://b:8080", "https://c:8080"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := v.Check(c.peer.Digest())
			if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrOtherCluster)) {
				t.Fatalf("Check = %v, want ok %v", err, c.ok)
			}
		})
	}
}
