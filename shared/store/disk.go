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
	held  int64    // bytes of message text of the entries at or above the log's first id
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
type Disk struct {
	dir      string // the log: meta.json and segment files
	dataDir  string
	opts     DiskOptions
	lockFile *os.File
	recovery Recovery
	keys     []KeyRecord
	stop     chan struct{} // closes the FsyncInterval loop
	done     chan struct{}

	mu      sync.Mutex
	cond    *sync.Cond  // signals leaders' progress; uses mu
	logID   string      // guarded by mu
	segs    []*segment  // guarded by mu; the last one is active
	first   uint64      // guarded by mu; the oldest id held (retention), 1 until entries are dropped
	visible uint64      // guarded by mu; readers see ids up to here
	next    uint64      // guarded by mu; the id the next append gets
	buf     []byte      // guarded by mu; encoded, not yet written
	pending []pendingID // guarded by mu; what buf holds
	spare   []byte      // guarded by mu; the previous buf, for reuse
	leading bool        // guarded by mu; a leader is writing
	changed changes     // wakes readers when entries become visible or the log resets
	gen     uint64      // guarded by mu; bumped when a write fails
	failure error       // guarded by mu; why the last write failed
	dirty   bool        // guarded by mu; written, not yet fsynced
	closed  bool        // guarded by mu
	tail    tailCache   // guarded by mu
}

type pendingID struct {
	entry frame.Entry
	off   int // offset of its record in buf
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
	}
	if d.next < d.first { // emptied by retention (or a restart at first) before a crash
		d.removeSegments()
		d.next = d.first
	}
	d.first = max(d.first, d.segFirst())
	d.visible = d.next - 1
	if err := d.dropSegmentsBelow(d.first); err != nil {
		return err
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
func (d *Disk) Keys() []KeyRecord { return d.keys }

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
// deleted: dataDir/log becomes dataDir/log.<old log id>.<time>.
func (d *Disk) Reset(logID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.leading {
		d.cond.Wait()
	}
	hadData := d.visible > 0
	d.closeSegments()
	if hadData {
		aside := fmt.Sprintf("%s.%s.%d", d.dir, orUnnamed(d.logID), time.Now().Unix())
		if err := os.Rename(d.dir, aside); err != nil {
			return fmt.Errorf("move old log aside: %w", err)
		}
		if err := os.MkdirAll(d.dir, 0o750); err != nil {
			return fmt.Errorf("create %s: %w", d.dir, err)
		}
	} else {
		names, _ := filepath.Glob(filepath.Join(d.dir, "*.seg"))
		for _, n := range names {
			os.Remove(n) // empty segments only: nothing to keep
		}
	}
	if err := writeMeta(d.dir, meta{LogID: logID}); err != nil {
		return err
	}
	d.logID, d.visible, d.next, d.first = logID, 0, 1, 1
	d.buf, d.pending, d.keys = d.buf[:0], nil, nil
	d.tail = newTailCache(d.opts.TailEntries)
	d.gen++
	d.failure = errors.New("log was reset")
	d.changed.notify()
	return nil
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
	var n int64
	for _, s := range d.segs {
		n += s.held
	}
	return n
}

// DropBefore implements Store: the first id moves at once (and is
// recorded in meta.json, so it survives a restart); a segment file is
// deleted once every entry in it is below the first id.
func (d *Disk) DropBefore(id uint64) error {
	d.mu.Lock()
	first, visible := d.first, d.visible
	d.mu.Unlock()
	if id <= first {
		return nil
	}
	// The bytes leaving the oldest kept segment, read outside the lock.
	var gone int64
	if id <= visible+1 {
		var es []frame.Entry
		for from := first; from < id; {
			var err error
			es, err = d.Read(es[:0], from, int(min(id-from, 4096)), 1<<30)
			if err != nil {
				return fmt.Errorf("retention: read %d: %w", from, err)
			}
			if len(es) == 0 {
				break
			}
			for _, e := range es {
				if e.ID < id {
					gone += int64(len(e.Message))
				}
			}
			from = es[len(es)-1].ID + 1
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.leading {
		d.cond.Wait()
	}
	if d.first != first || d.closed {
		return fmt.Errorf("retention: the log changed meanwhile; try again")
	}
	if err := writeMeta(d.dir, meta{LogID: d.logID, FirstID: id}); err != nil {
		return err
	}
	if id > d.visible+1 { // nothing kept: start over at id
		d.removeSegments()
		d.first, d.next, d.visible = id, id, id-1
		d.buf, d.pending = d.buf[:0], nil
		d.tail = newTailCache(d.opts.TailEntries)
		return nil
	}
	d.first = id
	for _, s := range d.segs { // subtract what left, segment by segment from the oldest
		if gone == 0 {
			break
		}
		take := min(gone, s.held)
		s.held -= take
		gone -= take
	}
	return d.dropSegmentsBelow(id)
}

// dropSegmentsBelow deletes the segments every entry of which is below
// id: those followed by a segment that starts at or below id. Readers
// that still hold a deleted file's descriptor read on; the space comes
// back when they let go.
func (d *Disk) dropSegmentsBelow(id uint64) error {
	n := 0
	for n+1 < len(d.segs) && d.segs[n+1].first <= id {
		n++
	}
	for _, s := range d.segs[:n] {
		s.f.Close()
		if err := os.Remove(segmentName(d.dir, s.first)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("retention: delete segment %d: %w", s.first, err)
		}
	}
	d.segs = append(d.segs[:0], d.segs[n:]...)
	return nil
}

// removeSegments closes and deletes every segment.
func (d *Disk) removeSegments() {
	for _, s := range d.segs {
		s.f.Close()
		os.Remove(segmentName(d.dir, s.first))
	}
	d.segs = nil
}

// FitBytes implements Store: it reads the oldest messages to count them
// off, so its cost is that of what retention is about to drop.
func (d *Disk) FitBytes(limit int64) uint64 {
	held, id := d.HeldBytes(), d.FirstID()
	var es []frame.Entry
	for held > limit {
		var err error
		if es, err = d.Read(es[:0], id, 4096, 1<<30); err != nil || len(es) == 0 {
			return id
		}
		for _, e := range es {
			if held <= limit {
				return e.ID
			}
			held -= int64(len(e.Message))
			id = e.ID + 1
		}
	}
	return id
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
