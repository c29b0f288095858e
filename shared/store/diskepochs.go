package store

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/replog/replog/shared/epoch"
)

// loadEpochs reads the history and the promise when the log opens,
// after its records: a pending rollback is completed first, then the
// history is checked against the records' epochs (and repaired where a
// crash between two steps left it behind or ahead of the log, see
// repairHistory); a history that disagrees otherwise is refused like a
// corrupt record.
func (d *Disk) loadEpochs() error {
	if err := d.finishRollback(); err != nil {
		return err
	}
	// A rollback file a crash left half-written; the rollback it was
	// for was either completed above or never began.
	temps, _ := filepath.Glob(filepath.Join(d.dataDir, rollbackDir, rollbackTemp+"*"))
	for _, name := range temps {
		if err := os.Remove(name); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	var h epoch.History
	found, err := readJSON(d.dir, historyFile, &h)
	if err != nil {
		return err
	}
	if !found {
		h = defaultHistory(d.visible > 0)
	}
	fixed, err := repairHistory(h, d.epochs, d.first, d.visible)
	if err != nil {
		return fmt.Errorf("corrupt log: %s does not match the records: %w; refusing to start "+
			"(restore the data directory from a backup, or move it aside to resync from the leader)",
			filepath.Join(d.dir, historyFile), err)
	}
	if !slices.Equal(fixed, h) {
		if err := writeJSON(d.dir, historyFile, fixed); err != nil {
			return err
		}
		found = true
	}
	d.history, d.hasHistory = fixed, found
	var p Promise
	if d.hasPromise, err = readJSON(d.dataDir, promiseFile, &p); err != nil {
		return err
	}
	d.promise = p
	return nil
}

// EpochOf implements Store.
func (d *Disk) EpochOf(id uint64) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id < d.first || id > d.visible {
		return 0
	}
	return d.epochs.of(id)
}

// History implements Store.
func (d *Disk) History() epoch.History {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.hasHistory {
		return defaultHistory(d.visible > 0)
	}
	return slices.Clone(d.history)
}

// SetHistory implements Store: epochs.json is replaced durably (temp
// file, fsync, rename, fsync the directory) without mu held.
func (d *Disk) SetHistory(h epoch.History) error {
	d.dropMu.Lock()
	defer d.dropMu.Unlock()
	d.mu.Lock()
	err := checkHistory(h, d.epochs, d.first, d.visible)
	d.mu.Unlock()
	if err == nil {
		err = writeJSON(d.dir, historyFile, h)
	}
	if err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	d.mu.Lock()
	d.history, d.hasHistory = slices.Clone(h), true
	d.mu.Unlock()
	return nil
}

// Promise implements Store.
func (d *Disk) Promise() Promise {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.hasPromise {
		return defaultPromise(d.visible > 0)
	}
	return d.promise
}

// SetPromise implements Store: promise.json, in the data directory, is
// replaced durably without mu held.
func (d *Disk) SetPromise(p Promise) error {
	d.promiseMu.Lock()
	defer d.promiseMu.Unlock()
	if err := writeJSON(d.dataDir, promiseFile, p); err != nil {
		return fmt.Errorf("save promise: %w", err)
	}
	d.mu.Lock()
	d.promise, d.hasPromise = p, true
	d.mu.Unlock()
	return nil
}
