package store

import (
	"testing"

	"go.uber.org/goleak"
)

// The disk store runs a goroutine for FsyncInterval; none may outlive Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
