package store

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/replog/replog/shared/epoch"
)

// rollbackDir holds the rollback files, in the data directory: they are
// the operator's, and outlive a Reset of the log.
const rollbackDir = "rollback"

// rollbackTemp begins the name of a rollback file being written.
const rollbackTemp = ".rollback-"

// cutFile marks a rollback in progress, in the log directory. It is
// written before anything else of a rollback and removed after
// everything, so that an open that finds it completes that rollback: the
// file is written again if it is missing, the log is cut, the history
// trimmed. Without it a crash between the rollback file and the cut could
// roll the same entries back a second time, for a later leader, into a
// second file.
const cutFile = "rollback.json"

// cutIntent is what cutFile holds.
type cutIntent struct {
	Keep  uint64 `json:"keep"`  // the last id kept
	To    uint64 `json:"to"`    // the last id of the log then
	Epoch uint64 `json:"epoch"` // the epoch of the leader that caused it
}

// rolledBack is one line of a rollback file.
type rolledBack struct {
	ID      uint64 `json:"id"`
	Epoch   uint64 `json:"epoch"`
	Message string `json:"message"`
	Key     string `json:"key,omitempty"`
}

// rollbackName is a rollback file's name, relative to the data
// directory. It is fixed by what the file holds, so writing it again
// (after a crash) replaces it with the same bytes.
func rollbackName(cause, from, to uint64) string {
	return filepath.Join(rollbackDir, fmt.Sprintf("%d-%d-%d.jsonl", cause, from, to))
}

// rollbackHook, when set by a test, runs between the steps of a rollback
// (named by the step about to begin); an error stops it there, as a crash
// would.
var rollbackHook func(step string) error

func rollbackStep(step string) error {
	if rollbackHook != nil {
		return rollbackHook(step)
	}
	return nil
}

// RollBackAfter implements Store. In order, each durable before the next
// begins: the intent (cutFile); the rollback file (temp file, fsync,
// rename, fsync the directory); the cut (whole segments deleted from the
// last, then the segment that holds keep truncated and fsynced); the
// history trimmed to what the log backs; the intent removed. A crash
// anywhere is completed by the next open. Appends wait meanwhile, and
// those queued fail; readers go on, but a read of the ids being rolled
// back may fail once they are cut. An error half-way leaves the store
// refusing appends until it is reopened.
func (d *Disk) RollBackAfter(keep, cause uint64) (Rollback, error) {
	d.dropMu.Lock()
	defer d.dropMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.broken != nil {
		return Rollback{}, d.broken
	}
	first, hist, hasHist := d.first, d.history, d.hasHistory // dropMu keeps them
	rb := Rollback{Epoch: cause, From: keep + 1}
	var c *logCut
	began := false
	err := d.holdingFiles(func(held heldFiles) error {
		rb.To = held.visible
		if err := checkKeep(keep, first, held.visible); err != nil || keep >= held.visible {
			return err
		}
		var err error
		c, err = d.rollBack(held.segs, cutIntent{Keep: keep, To: held.visible, Epoch: cause}, hist, hasHist, &began)
		return err
	})
	switch {
	case err != nil && began:
		d.broken = fmt.Errorf("rollback after id %d failed half-way (reopen the store to complete it): %w", keep, err)
		d.gen++
		d.failure = d.broken
		d.buf, d.pending, d.next = d.buf[:0], nil, d.visible+1
		return Rollback{}, err
	case err != nil:
		return Rollback{}, err
	case c == nil:
		return rb, nil // nothing after keep
	}
	d.applyCut(c)
	rb.File = c.file
	return rb, nil
}

// logCut is what a rollback did to the files, for the store to follow in
// memory.
type logCut struct {
	keep    uint64
	file    string
	gone    []*segment // deleted whole
	trimmed *segment   // the segment that holds keep, cut after it; nil when none is
	size    int64      // trimmed's new size
	text    int64      // message text left in trimmed
	history epoch.History
	hasHist bool
}

// rollBack does a rollback's I/O, on segs, which no append changes
// meanwhile; began says whether its intent reached the disk (then only
// an open may finish it, should it fail).
func (d *Disk) rollBack(segs []*segment, in cutIntent, hist epoch.History, hasHist bool, began *bool) (*logCut, error) {
	if err := rollbackStep("intent"); err != nil {
		return nil, err
	}
	*began = true // a failed write may still have renamed the intent into place
	if err := writeJSON(d.dir, cutFile, in); err != nil {
		return nil, fmt.Errorf("rollback: %w", err)
	}
	return d.completeCut(segs, in, hist, hasHist)
}

// completeCut does the rest of a rollback once its intent is on disk:
// at run time, and again when an open finds the intent.
func (d *Disk) completeCut(segs []*segment, in cutIntent, hist epoch.History, hasHist bool) (*logCut, error) {
	k := sort.Search(len(segs), func(i int) bool { return segs[i].first > in.Keep+1 }) - 1
	if k < 0 {
		return nil, fmt.Errorf("rollback after id %d: no segment holds id %d", in.Keep, in.Keep+1)
	}
	c := &logCut{keep: in.Keep, size: -1, history: hist, hasHist: hasHist}
	if err := rollbackStep("file"); err != nil {
		return nil, err
	}
	if err := d.writeRollbackFile(segs[k:], in, c); err != nil {
		return nil, err
	}
	if err := rollbackStep("cut"); err != nil {
		return c, err
	}
	if err := d.cutSegments(segs[k:], c); err != nil {
		return c, err
	}
	if err := rollbackStep("history"); err != nil {
		return c, err
	}
	if adopted := epoch.Adopt(hist, in.Keep); hasHist && !slices.Equal(adopted, hist) {
		if err := writeJSON(d.dir, historyFile, adopted); err != nil {
			return c, fmt.Errorf("rollback: %w", err)
		}
		c.history = adopted
	}
	if err := rollbackStep("done"); err != nil {
		return c, err
	}
	if err := os.Remove(filepath.Join(d.dir, cutFile)); err != nil {
		return c, fmt.Errorf("rollback: %w", err)
	}
	return c, syncDir(d.dir)
}

// writeRollbackFile writes the entries after in.Keep of segs (the first
// of which holds in.Keep+1) to their rollback file, and notes in c where
// the first of them is. A file already in place was written before a
// crash, from these same entries (and the cut may have begun since): it
// is kept as it is.
func (d *Disk) writeRollbackFile(segs []*segment, in cutIntent, c *logCut) error {
	c.file = rollbackName(in.Epoch, in.Keep+1, in.To)
	if _, err := os.Stat(filepath.Join(d.dataDir, c.file)); err == nil {
		_, err := d.scanRolledBack(segs, in.Keep, c, func(rolledBack) error { return nil })
		return err
	}
	dir := filepath.Join(d.dataDir, rollbackDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	if err := syncDir(d.dataDir); err != nil { // the directory itself, when new
		return fmt.Errorf("rollback: %w", err)
	}
	tmp, err := os.CreateTemp(dir, rollbackTemp+"*")
	if err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone once renamed
	w := bufio.NewWriter(tmp)
	enc := json.NewEncoder(w)
	to, err := d.scanRolledBack(segs, in.Keep, c, func(r rolledBack) error { return enc.Encode(r) })
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("rollback: write file: %w", err)
	}
	// The log may hold less than the intent says: its tail was lost
	// with the crash (FSYNC other than always). The name says what the
	// file holds.
	c.file = rollbackName(in.Epoch, in.Keep+1, to)
	if err := os.Rename(tmp.Name(), filepath.Join(d.dataDir, c.file)); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	return syncDir(dir)
}

// scanRolledBack reads every record after keep in segs, giving each to
// put, and notes in c the offset and the text of the first segment's
// records after keep. It returns the last id read.
func (d *Disk) scanRolledBack(segs []*segment, keep uint64, c *logCut, put func(rolledBack) error) (uint64, error) {
	last := keep
	for i, s := range segs {
		v := s.view()
		start := int64(0)
		if i == 0 && len(v.index) > 0 {
			start = int64(v.index[min(int((keep+1-v.first)/indexEvery), len(v.index)-1)])
		}
		r := newRecordReader(v.f, start, v.size)
		for {
			at := r.off - int64(len(r.buf)-r.pos)
			rec, err := r.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return last, fmt.Errorf("read segment %d: %w", v.first, err)
			}
			if rec.id <= keep {
				continue
			}
			if i == 0 && c.size < 0 {
				c.size, c.text = at, v.text
			}
			if i == 0 {
				c.text -= int64(len(rec.msg))
			}
			if err := put(rolledBack{ID: rec.id, Epoch: rec.rec.Epoch, Message: string(rec.msg), Key: rec.rec.Key}); err != nil {
				return last, err
			}
			last = rec.id
		}
	}
	return last, nil
}

// cutSegments deletes the segments after the first of segs, from the
// last, then truncates the first after c.keep (or deletes it when it
// starts after c.keep): at every step the files hold a prefix of the log.
func (d *Disk) cutSegments(segs []*segment, c *logCut) error {
	for i := len(segs) - 1; i >= 1; i-- {
		c.gone = append(c.gone, segs[i])
	}
	head := segs[0]
	if head.first > c.keep {
		c.gone = append(c.gone, head)
	} else {
		c.trimmed = head
	}
	for _, s := range c.gone {
		if err := os.Remove(segmentName(d.dir, s.first)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rollback: delete segment %d: %w", s.first, err)
		}
	}
	if err := syncDir(d.dir); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	if c.trimmed == nil || c.size < 0 {
		return nil
	}
	if err := rollbackStep("truncate"); err != nil {
		return err
	}
	if err := c.trimmed.f.Truncate(c.size); err != nil {
		return fmt.Errorf("rollback: cut segment %d: %w", c.trimmed.first, err)
	}
	if err := c.trimmed.f.Sync(); err != nil {
		return fmt.Errorf("rollback: cut segment %d: %w", c.trimmed.first, err)
	}
	return nil
}

// applyCut makes the log in memory what a finished rollback left on disk.
// It is called with mu held.
func (d *Disk) applyCut(c *logCut) {
	for _, s := range c.gone {
		d.text -= s.text
	}
	d.segs = slices.DeleteFunc(d.segs, func(s *segment) bool { return slices.Contains(c.gone, s) })
	if s := c.trimmed; s != nil && c.size >= 0 {
		d.text -= s.text - c.text
		s.size, s.text = c.size, c.text
		n := int((c.keep-s.first)/indexEvery) + 1 // index entries of ids up to keep
		s.index, s.textAt = s.index[:min(n, len(s.index))], s.textAt[:min(n, len(s.textAt))]
	}
	closeFiles(c.gone)
	if len(d.segs) == 0 {
		d.below = 0
	}
	d.visible, d.next = c.keep, c.keep+1
	d.epochs = d.epochs.cut(c.keep)
	d.history, d.hasHistory = c.history, c.hasHist
	// A new slice: a caller may hold the one Keys returned.
	d.keys = slices.DeleteFunc(slices.Clone(d.keys), func(k KeyRecord) bool { return k.ID > c.keep })
	d.tail = newTailCache(d.opts.TailEntries)
	d.buf, d.pending = d.buf[:0], nil
	d.gen++
	d.failure = fmt.Errorf("log rolled back after id %d", c.keep)
	d.changed.notify()
}

// finishRollback completes, on open, a rollback that a crash
// interrupted (its intent is on disk).
func (d *Disk) finishRollback() error {
	var in cutIntent
	found, err := readJSON(d.dir, cutFile, &in)
	if err != nil || !found {
		return err
	}
	var hist epoch.History
	hasHist, err := readJSON(d.dir, historyFile, &hist)
	if err != nil {
		return err
	}
	if in.Keep >= d.visible {
		// Cut before the crash; the history is trimmed by loadEpochs
		// as any history ahead of its log is.
		if err := os.Remove(filepath.Join(d.dir, cutFile)); err != nil {
			return fmt.Errorf("finish rollback: %w", err)
		}
		return syncDir(d.dir)
	}
	if err := checkKeep(in.Keep, d.first, d.visible); err != nil {
		return fmt.Errorf("finish rollback: %w", err)
	}
	c, err := d.completeCut(d.segs, in, hist, hasHist)
	if err != nil {
		return fmt.Errorf("finish rollback: %w", err)
	}
	d.applyCut(c)
	return nil
}
