//go:build testbreak

package failover

import (
	"fmt"
	"os"

	"github.com/replog/replog/shared/election"
)

// testBreak is REPLOG_TEST_BREAK, a deliberate bug for the chaos test to
// find (master/clustertest TestChaosFailover, -chaos.break). It exists
// only in builds with the testbreak tag, which only the cluster tests
// make; a release binary has no such variable. "no-copy": a candidate
// with a majority of promises leads without copying what the most
// up-to-date promiser holds, and begin lets it (MayLead's position check
// skipped): writes acknowledged at a majority are lost when a candidate
// that is behind wins. "forget-promise": a node restarts with no promise
// (ForgetPromise), as if promise.json were never written: it may promise
// an epoch twice, or ack a leader it promised to depose.
var testBreak = os.Getenv("REPLOG_TEST_BREAK")

// ForgetPromise is the "forget-promise" break: the promise loaded at
// start, or none.
func ForgetPromise(p election.Promise) election.Promise {
	if testBreak == "forget-promise" {
		return election.Promise{}
	}
	return p
}

// A break is a test's own: it refuses to run without fault control on.
func init() {
	if testBreak != "" && os.Getenv("FAULTS_API") != "true" {
		fmt.Fprintln(os.Stderr, "master: REPLOG_TEST_BREAK: a test-only bug; it needs FAULTS_API=true")
		os.Exit(2)
	}
}
