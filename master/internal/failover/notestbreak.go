//go:build !testbreak

package failover

import "github.com/replog/replog/shared/election"

// testBreak is no break: see testbreak.go, built only by the cluster tests.
const testBreak = ""

// ForgetPromise is p: only a testbreak build can forget a promise.
func ForgetPromise(p election.Promise) election.Promise { return p }
