package ballot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestCheckNewRefusesOnlyAClusterThatHasElected: CLUSTER_STATE=new on an
// empty data directory is refused once a peer is in epoch 2 or later (an
// election happened: this node may have promised, and forgot); a single
// master's epoch 1 (an upgrade to failover), a peer starting too, or one
// that does not answer, let the node start.
func TestCheckNewRefusesOnlyAClusterThatHasElected(t *testing.T) {
	peer := func(epoch, last uint64) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"role":"standby","epoch":%d,"lastId":%d}`, epoch, last)
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	gone := httptest.NewServer(nil)
	gone.Close()
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		bases  []string
		refuse bool
	}{
		{"peers starting too", []string{peer(0, 0), peer(0, 0)}, false},
		{"a single master being upgraded", []string{peer(1, 12), peer(0, 0)}, false},
		{"a peer unreachable", []string{gone.URL}, false},
		{"a cluster that elected", []string{peer(0, 0), peer(2, 0)}, true},
		{"a cluster that elected and wrote", []string{gone.URL, peer(5, 40)}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckNew(ctx, http.DefaultClient, c.bases, 2*time.Second)
			var exists *ErrClusterExists
			if errors.As(err, &exists) != c.refuse {
				t.Fatalf("CheckNew = %v, want refused %v", err, c.refuse)
			}
		})
	}
}
