package store

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/replog/replog/shared/election"
)

// InspectDataDir reports what a node of a PEERS cluster finds in its data
// directory before it opens the log (election.Opened decides from it what
// the node is). It reads only file names and promise.json: the log is not
// opened, so nothing is created.
func InspectDataDir(dataDir string) (election.DataDir, error) {
	var d election.DataDir
	var p Promise
	found, err := readJSON(dataDir, promiseFile, &p)
	if err != nil {
		return d, err
	}
	if found {
		d.Promise, d.Learner = &p.Promise, p.Learner
	}
	logDir := filepath.Join(dataDir, "log")
	exists := func(name string) (bool, error) {
		_, err := os.Stat(filepath.Join(logDir, name))
		if err == nil {
			return true, nil
		}
		if os.IsNotExist(err) {
			return false, nil
		}
		return false, fmt.Errorf("inspect data directory: %w", err)
	}
	if d.Meta, err = exists("meta.json"); err != nil {
		return d, err
	}
	if d.Epochs, err = exists(historyFile); err != nil {
		return d, err
	}
	segs, err := filepath.Glob(filepath.Join(logDir, "*.seg"))
	if err != nil {
		return d, fmt.Errorf("inspect data directory: %w", err)
	}
	for _, s := range segs {
		if fi, err := os.Stat(s); err == nil && fi.Size() > 0 {
			d.Records = true
			break
		}
	}
	return d, nil
}

// ReadPromise reads dataDir's promise.json without opening the log;
// found is false when there is none.
func ReadPromise(dataDir string) (p Promise, found bool, err error) {
	found, err = readJSON(dataDir, promiseFile, &p)
	return p, found, err
}

// WritePromise saves p as dataDir's promise.json durably (temp file,
// fsync, rename, fsync the directory) before the log is opened: in a
// PEERS cluster it is a node's first write (docs/FAILOVER.md, A4), so
// that a data directory with a log and no promise.json can only be an
// older release's.
func WritePromise(dataDir string, p Promise) error {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("save promise: %w", err)
	}
	if err := writeJSON(dataDir, promiseFile, p); err != nil {
		return fmt.Errorf("save promise: %w", err)
	}
	return nil
}
