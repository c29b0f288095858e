package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/replog/replog/shared/epoch"
	"github.com/replog/replog/shared/frame"
)

// FsyncPolicy says when appended records are forced to stable storage.
type FsyncPolicy string

const (
	// FsyncAlways fsyncs before an append returns: an acknowledged message
	// survives a crash of the process and of the machine. Appends that
	// arrive together share one fsync (group commit).
	FsyncAlways FsyncPolicy = "always"
	// FsyncInterval fsyncs every DiskOptions.FsyncInterval: a process crash
	// loses nothing, a power loss may lose the last interval.
	FsyncInterval FsyncPolicy = "interval"
	// FsyncNever leaves flushing to the operating system.
	FsyncNever FsyncPolicy = "never"
)

// Decode lets envconfig read an FsyncPolicy, refusing unknown ones.
func (p *FsyncPolicy) Decode(s string) error {
	switch v := FsyncPolicy(s); v {
	case FsyncAlways, FsyncInterval, FsyncNever:
		*p = v
		return nil
	}
	return fmt.Errorf("%q is not always, interval or never", s)
}

// ErrLocked is returned by OpenDisk when another process holds the
// directory.
var ErrLocked = errors.New("data directory is in use by another process")

// DiskOptions tune a Disk; the zero value of a field means its default.
type DiskOptions struct {
	Fsync         FsyncPolicy   // default FsyncAlways
	FsyncInterval time.Duration // default 100ms
	SegmentBytes  int64         // a segment is closed past this size; default 64 MiB
	TailEntries   int           // newest entries kept in memory for readers; default 8192
	KeepKeys      int           // idempotency keys kept from recovery; default 100000
	// OnFsync, when set, is told of every fsync of appended records: how
	// long it took and how many records it made durable (for metrics).
	OnFsync func(took time.Duration, records int)
	// NewLogID names a log that does not exist yet; empty leaves it
	// unnamed until Reset (a secondary learns its name from the master).
	NewLogID string
}

func (o DiskOptions) withDefaults() DiskOptions {
	if o.Fsync == "" {
		o.Fsync = FsyncAlways
	}
	if o.FsyncInterval == 0 {
		o.FsyncInterval = 100 * time.Millisecond
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = 64 << 20
	}
	if o.TailEntries == 0 {
		o.TailEntries = 8192
	}
	if o.KeepKeys == 0 {
		o.KeepKeys = 100000
	}
	return o
}

// Recovery says what opening a Disk found.
type Recovery struct {
	Segments  int
	Records   uint64
	TornBytes int64 // bytes of a torn last record, cut off
	Took      time.Duration
}

// indexEvery is the spacing of a segment's sparse index: a read seeks to
// the indexed record at or before its id and decodes forward from there,
// so the index costs a few bits per message.
const indexEvery = 64

// segment is one file of the log, named after the first id it holds.
type segment struct {
	first uint64
	f     *os.File
	size  int64    // bytes of whole records
	index []uint32 // offsets of ids first, first+indexEvery, …
	// textAt[k] is the message text of the records before index[k], so
	// retention counts the bytes below an id by reading at most
	// indexEvery-1 records, never every record it drops.
	textAt []uint32
	text   int64 // message text of every record in the segment
	// newest is when the segment was last appended to (its file's
	// modification time after a restart), for the age limit.
	newest time.Time
}

// Disk is a Store that keeps the log in segment files under a directory.
//
// Writes use group commit: every append encodes its records into a shared
// buffer and waits; one of the waiters becomes the leader, writes the
// whole buffer and (under FsyncAlways) fsyncs it, then wakes them all.
// Appends that arrive while a leader is at work ride the next write.
//
// Lock order: dropMu, then mu. dropMu is held by DropBefore and Reset
// for their whole run, meta.json writes and file deletions included, so
// mu is held only to switch the in-memory state, never across that I/O.
type Disk struct {
	dir      string // the log: meta.json and segment files
	dataDir  string
	opts     DiskOptions
	lockFile *os.File
	recovery Recovery
	keys     []KeyRecord
	stop     chan struct{} // closes the FsyncInterval loop
	done     chan struct{}

	// dropMu: one DropBefore, Reset, RollBackAfter or SetHistory at a
	// time: they rewrite meta.json, epochs.json and the segment files.
	dropMu sync.Mutex
	// promiseMu: one SetPromise at a time, across its write.
	promiseMu sync.Mutex

	mu      sync.Mutex
	cond    *sync.Cond  // signals leaders' progress; uses mu
	logID   string      // guarded by mu
	segs    []*segment  // guarded by mu; the last one is active
	first   uint64      // guarded by mu; the oldest id held (retention), 1 until entries are dropped
	text    int64       // guarded by mu; message text of every segment, the sum of their text
	below   int64       // guarded by mu; message text in segs[0] below first
	visible uint64      // guarded by mu; readers see ids up to here
	next    uint64      // guarded by mu; the id the next append gets
	buf     []byte      // guarded by mu; encoded, not yet written
	pending []pendingID // guarded by mu; what buf holds
	spare   []byte      // guarded by mu; the previous buf, for reuse
	leading bool        // guarded by mu; a leader is writing, or Reset or a restart holds the files
	changed changes     // wakes readers when entries become visible or the log resets
	gen     uint64      // guarded by mu; bumped when a write fails
	failure error       // guarded by mu; why the last write failed
	dirty   bool        // guarded by mu; written, not yet fsynced
	closed  bool        // guarded by mu
	tail    tailCache   // guarded by mu
	epochs  runs        // guarded by mu; the epochs of the visible entries
	// history is the saved epoch history when hasHistory, and promise
	// the saved promise when hasPromise; all four guarded by mu.
	history    epoch.History
	hasHistory bool
	promise    Promise
	hasPromise bool
	// broken is why a rollback failed half-way; guarded by mu. Appends
	// are refused until the store is reopened, which completes it.
	broken error
}

type pendingID struct {
	entry  frame.Entry // as Read gives it (Record.entry)
	off    int         // offset of its record in buf
	digest uint64      // a keyed record's digest (Keys)
}

var _ Store = (*Disk)(nil)

// OpenDisk opens (or creates) the log in dataDir/log, recovering it: a
// torn last record is cut off, and corruption anywhere else is an error,
// never skipped. Only one process may hold dataDir.
func OpenDisk(dataDir string, opts DiskOptions) (*Disk, error) {
	start := time.Now()
	d := &Disk{dataDir: dataDir, dir: filepath.Join(dataDir, "log"), opts: opts.withDefaults()}
	d.cond = sync.NewCond(&d.mu)
	d.tail = newTailCache(d.opts.TailEntries)
	if err := os.MkdirAll(d.dir, 0o750); err != nil {
		return nil, fmt.Errorf("create %s: %w", d.dir, err)
	}
	if err := d.lock(); err != nil {
		return nil, err
	}
	if err := d.load(); err != nil {
		d.unlock()
		return nil, err
	}
	if err := d.loadEpochs(); err != nil {
		d.closeSegments()
		d.unlock()
		return nil, err
	}
	d.recovery.Took = time.Since(start)
	if d.opts.Fsync == FsyncInterval {
		d.stop, d.done = make(chan struct{}), make(chan struct{})
		go d.syncLoop()
	}
	return d, nil
}

func (d *Disk) lock() error {
	f, err := os.OpenFile(filepath.Join(d.dataDir, "lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("%s: %w", d.dataDir, ErrLocked)
		}
		return fmt.Errorf("lock %s: %w", d.dataDir, err)
	}
	d.lockFile = f
	return nil
}

func (d *Disk) unlock() {
	if d.lockFile != nil {
		d.lockFile.Close() // closing releases the flock
	}
}

// meta is what the log directory says of itself.
type meta struct {
	LogID string `json:"logId"`
	// FirstID is the oldest id held, once retention dropped entries: it
	// may lie inside the oldest segment, which is deleted only once every
	// entry in it is below it.
	FirstID uint64 `json:"firstId,omitempty"`
}

func (d *Disk) load() error {
	m, err := readMeta(d.dir)
	if err != nil {
		return err
	}
	if m.LogID == "" && d.opts.NewLogID != "" {
		m.LogID = d.opts.NewLogID
		if err := writeMeta(d.dir, m); err != nil {
			return err
		}
	}
	d.logID = m.LogID
	names, err := filepath.Glob(filepath.Join(d.dir, "*.seg"))
	if err != nil {
		return fmt.Errorf("list segments: %w", err)
	}
	sort.Strings(names) // zero-padded first ids sort in id order
	d.next, d.first = 1, max(m.FirstID, 1)
	if len(names) > 0 {
		if _, err := fmt.Sscanf(filepath.Base(names[0]), "%020d.seg", &d.next); err != nil {
			return fmt.Errorf("segment %s: not named after its first id", names[0])
		}
	}
	for i, name := range names {
		seg, err := d.recoverSegment(name, i == len(names)-1)
		if err != nil {
			d.closeSegments()
			return err
		}
		d.segs = append(d.segs, seg)
		d.text += seg.text
	}
	if d.next < d.first { // emptied by retention (or a restart at first) before a crash
		segs := d.segs
		d.closeSegments()
		if err := removeSegmentFiles(d.dir, segs); err != nil {
			return err
		}
		d.text, d.next = 0, d.first
	}
	d.first = max(d.first, d.segFirst())
	d.visible = d.next - 1
	gone := d.cutSegmentsBelow(d.first) // meta.json was written, the deletion cut short
	closeFiles(gone)
	if err := removeSegmentFiles(d.dir, gone); err != nil {
		d.closeSegments()
		return err
	}
	if len(d.segs) > 0 {
		below, err := textBefore(d.segs[0].view(), d.first)
		if err != nil {
			d.closeSegments()
			return err
		}
		d.below = below
	}
	d.keys = slices.DeleteFunc(d.keys, func(k KeyRecord) bool { return k.ID < d.first })
	d.recovery.Segments, d.recovery.Records = len(d.segs), d.visible-d.first+1
	if len(d.keys) > d.opts.KeepKeys {
		d.keys = d.keys[len(d.keys)-d.opts.KeepKeys:]
	}
	return nil
}

func readMeta(dir string) (meta, error) {
	var m meta
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return m, fmt.Errorf("read %s/meta.json: %w", dir, err)
	}
	return m, nil
}

// writeMeta replaces meta.json atomically: temp file, fsync, rename,
// fsync the directory.
func writeMeta(dir string, m meta) error {
	if metaHook != nil {
		metaHook()
	}
	b, _ := json.Marshal(m) // a struct of strings always marshals
	tmp := filepath.Join(dir, "meta.json.tmp")
	if err := writeFileSync(tmp, b); err != nil {
		return fmt.Errorf("write meta: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "meta.json")); err != nil {
		return fmt.Errorf("write meta: %w", err)
	}
	return syncDir(dir)
}

// metaHook, when set by a test, runs as each meta.json write begins.
var metaHook func()

func writeFileSync(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func segmentName(dir string, first uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d.seg", first))
}

// LogID implements Store.
func (d *Disk) LogID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logID
}

// LastID implements Store.
func (d *Disk) LastID() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.visible
}

// Keys implements Store.
func (d *Disk) Keys() []KeyRecord {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.keys) // keepKey compacts the slice in place
}

// Recovery reports what opening the log found.
func (d *Disk) Recovery() Recovery { return d.recovery }

// Dir is the directory of the log.
func (d *Disk) Dir() string { return d.dir }

// Close implements Store: it waits for a write in progress, fsyncs (unless
// FsyncNever) and releases the directory.
func (d *Disk) Close() error {
	if d.stop != nil {
		close(d.stop)
		<-d.done
	}
	d.mu.Lock()
	for d.leading {
		d.cond.Wait()
	}
	d.closed = true
	var err error
	if d.opts.Fsync != FsyncNever && len(d.segs) > 0 {
		err = d.segs[len(d.segs)-1].f.Sync()
	}
	d.closeSegments()
	d.mu.Unlock()
	d.unlock()
	return err
}

func (d *Disk) closeSegments() {
	for _, s := range d.segs {
		s.f.Close()
	}
	d.segs = nil
}

// syncLoop fsyncs written data every FsyncInterval.
func (d *Disk) syncLoop() {
	defer close(d.done)
	t := time.NewTicker(d.opts.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		d.mu.Lock()
		var f *os.File
		if d.dirty && !d.leading && len(d.segs) > 0 {
			f, d.dirty = d.segs[len(d.segs)-1].f, false
		}
		d.mu.Unlock()
		if f != nil && f.Sync() != nil {
			d.mu.Lock()
			d.dirty = true // try again next tick
			d.mu.Unlock()
		}
	}
}

// Reset implements Store. A log with entries is moved aside, never
// deleted: dataDir/log becomes dataDir/log.<old log id>.<time>. No batch
// is written meanwhile, but mu is not held across the rename and the
// meta.json write: readers see the old log until the new one is in place.
func (d *Disk) Reset(logID string) error {
	d.dropMu.Lock()
	defer d.dropMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	moved := false
	err := d.holdingFiles(func(held heldFiles) error {
		var err error
		moved, err = d.replaceDir(held.visible > 0, held.logID, logID, held.segs)
		return err
	})
	if !moved {
		return err // nothing changed
	}
	segs := d.segs
	closeFiles(segs)
	d.logID, d.segs, d.text, d.below = logID, nil, 0, 0
	d.visible, d.next, d.first = 0, 1, 1
	d.buf, d.pending, d.keys = d.buf[:0], nil, nil
	d.epochs, d.history, d.hasHistory = nil, nil, false // a new log has no history; the node keeps its promise
	d.tail = newTailCache(d.opts.TailEntries)
	d.gen++
	d.failure = errors.New("log was reset")
	d.changed.notify()
	return err
}

// replaceDir gives Reset a log directory for logID: the old one is moved
// aside if it held entries (moved says it was), else its empty segments
// are deleted; then meta.json names the new log.
func (d *Disk) replaceDir(hadData bool, oldID, logID string, segs []*segment) (moved bool, err error) {
	if hadData {
		aside := fmt.Sprintf("%s.%s.%d", d.dir, orUnnamed(oldID), time.Now().Unix())
		if err := os.Rename(d.dir, aside); err != nil {
			return false, fmt.Errorf("move old log aside: %w", err)
		}
		if err := os.MkdirAll(d.dir, 0o750); err != nil {
			return true, fmt.Errorf("create %s: %w", d.dir, err)
		}
	} else {
		_ = removeSegmentFiles(d.dir, segs) // empty segments only: nothing to keep
		if err := os.Remove(filepath.Join(d.dir, historyFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return true, fmt.Errorf("remove the old log's history: %w", err)
		}
	}
	return true, writeMeta(d.dir, meta{LogID: logID})
}

// heldFiles is what holdingFiles's io may know of the log: it does not
// change while io runs.
type heldFiles struct {
	segs    []*segment
	logID   string
	visible uint64
}

// holdingFiles runs io on the log's files with mu released while no batch
// is written: it waits for the leader and then stands in for one, so
// appends queue behind it (as behind a leader) while readers go on. It is
// called, and returns, with mu held.
func (d *Disk) holdingFiles(io func(heldFiles) error) error {
	for d.leading {
		d.cond.Wait()
	}
	if d.closed {
		return ErrClosed
	}
	d.leading = true
	held := heldFiles{segs: d.segs, logID: d.logID, visible: d.visible}
	d.mu.Unlock()
	err := io(held)
	d.mu.Lock()
	d.leading = false
	d.cond.Broadcast()
	return err
}

// Changed implements Store.
func (d *Disk) Changed() <-chan struct{} { return d.changed.wait() }

func orUnnamed(id string) string {
	if id == "" {
		return "unnamed"
	}
	return id
}

// segFirst is the first id of the oldest segment, or next when none.
func (d *Disk) segFirst() uint64 {
	if len(d.segs) == 0 {
		return d.next
	}
	return d.segs[0].first
}

// FirstID implements Store.
func (d *Disk) FirstID() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.first
}

// HeldBytes implements Store.
func (d *Disk) HeldBytes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.text - d.below
}

// DropBefore implements Store. meta.json records the new first id before
// anything is deleted, so a crash in between leaves segments that the
// next open deletes, and never claims less than the log holds. Neither
// that write nor the deletion holds mu: appends and reads go on, and mu
// is taken only to move the first id and let go of whole segments.
func (d *Disk) DropBefore(id uint64) error {
	d.dropMu.Lock()
	defer d.dropMu.Unlock()
	d.mu.Lock()
	first, visible, logID, closed := d.first, d.visible, d.logID, d.closed
	var seg *segment // the segment that holds id
	var view segView
	if k := d.segmentOf(id); k >= 0 {
		seg, view = d.segs[k], d.segs[k].view()
	}
	d.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case id <= first:
		return nil
	case id > visible+1:
		return d.restartAt(id)
	}
	below, err := textBefore(view, id) // read before the meta write: a failure changes nothing
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	if err := writeMeta(d.dir, meta{LogID: logID, FirstID: id}); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed // meta.json holds id: the next open drops the rest
	}
	gone := d.cutSegmentsBelow(id)
	if len(d.segs) == 0 || d.segs[0] != seg {
		below = 0 // a segment started at id since: nothing of it is below
	}
	d.first, d.below = id, below
	d.mu.Unlock()
	closeFiles(gone)
	return removeSegmentFiles(d.dir, gone)
}

// segmentOf is the index of the segment that holds id, or would (the
// last one starting at or below it); -1 when none does.
func (d *Disk) segmentOf(id uint64) int {
	return sort.Search(len(d.segs), func(i int) bool { return d.segs[i].first > id }) - 1
}

// restartAt empties the log, whose next entry gets id: a secondary that
// can no longer be sent what it lacks restarts where the master's log
// begins. Appends queued meanwhile fail: their ids are gone.
func (d *Disk) restartAt(id uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	written := false
	err := d.holdingFiles(func(held heldFiles) error {
		if id <= held.visible+1 {
			return errors.New("retention: the log grew meanwhile; try again")
		}
		if err := writeMeta(d.dir, meta{LogID: held.logID, FirstID: id}); err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		written = true
		return removeSegmentFiles(d.dir, held.segs) // the next open deletes what is left: meta.json holds id
	})
	if !written {
		return err // nothing changed
	}
	closeFiles(d.segs)
	d.segs, d.text, d.below = nil, 0, 0
	d.first, d.next, d.visible = id, id, id-1
	d.buf, d.pending = d.buf[:0], nil
	d.tail = newTailCache(d.opts.TailEntries)
	d.gen++
	d.failure = fmt.Errorf("log restarted at id %d", id)
	d.changed.notify()
	return err
}

// cutSegmentsBelow takes out of the log the segments every entry of which
// is below id (those followed by a segment that starts at or below it)
// and returns them, for the caller to close and delete outside mu.
func (d *Disk) cutSegmentsBelow(id uint64) []*segment {
	n := 0
	for n+1 < len(d.segs) && d.segs[n+1].first <= id {
		n++
	}
	gone := slices.Clone(d.segs[:n])
	for _, s := range gone {
		d.text -= s.text
	}
	d.segs = append(d.segs[:0], d.segs[n:]...)
	return gone
}

// closeFiles closes the segments' files. A reader that took a segment
// before it was cut reads on until it is closed, then fails that read.
func closeFiles(segs []*segment) {
	for _, s := range segs {
		s.f.Close()
	}
}

// removeSegmentFiles deletes the segments' files.
func removeSegmentFiles(dir string, segs []*segment) error {
	for _, s := range segs {
		if err := os.Remove(segmentName(dir, s.first)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("retention: delete segment %d: %w", s.first, err)
		}
	}
	return nil
}

// FitBytes implements Store from each segment's message text: whole
// segments are passed over by their count, and in the one where the
// window starts the indexed counts leave at most indexEvery-1 records to
// read.
func (d *Disk) FitBytes(limit int64) uint64 {
	d.mu.Lock()
	first, visible, below := d.first, d.visible, d.below
	need := d.text - limit // message text to pass, counted from the start of segs[0]
	views := make([]segView, len(d.segs))
	for i, s := range d.segs {
		views[i] = s.view()
	}
	d.mu.Unlock()
	if need <= below { // what is held fits
		return first
	}
	for _, v := range views {
		if need > v.text {
			need -= v.text
			continue
		}
		id, err := idPast(v, need)
		if err != nil {
			return first // retention tries again on its next sweep
		}
		return max(id, first)
	}
	return visible + 1
}

// AgedBefore implements Store, judging each segment by its newest
// message; the segment being appended to is never aged out.
func (d *Disk) AgedBefore(cutoff time.Time) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := d.first
	for i := 0; i+1 < len(d.segs) && d.segs[i].newest.Before(cutoff); i++ {
		id = max(id, d.segs[i+1].first)
	}
	return id
}
