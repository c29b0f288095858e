//go:build !testbreak

package failover

// testBreak is no break: see testbreak.go, built only by the cluster tests.
const testBreak = ""
