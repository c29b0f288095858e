package store

import (
	"fmt"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/replog/replog/shared/epoch"
	"github.com/replog/replog/shared/frame"
)

// chunkSize is the size of the byte arenas that hold message text. The
// arenas are mapped outside the Go heap: the log only grows, and in the
// heap it would count toward the garbage collector's target, which lets
// the heap grow to twice what is live. Outside, memory per message is its
// length plus a small index entry.
const chunkSize = 4 << 20

// span locates one message in the arenas.
type span struct{ chunk, off, n uint32 }

// Memory is a Store that lives in memory: fast, and gone with the process.
//
// Retention (DropBefore) moves the first id exactly and gives memory back
// in whole chunks: a chunk is unmapped once every message in it is below
// the first id, so at most one chunk (4 MiB) more than the window is held.
type Memory struct {
	mu      sync.RWMutex
	logID   string   // guarded by mu
	first   uint64   // guarded by mu; the id index[0] locates: 1 until entries are dropped
	index   []span   // guarded by mu; index[i] locates id first+i
	chunks  [][]byte // guarded by mu; bytes below each len are never written again; nil once freed
	newest  []int64  // guarded by mu; newest[i]: when chunk i was last appended to (Unix ns)
	held    int64    // guarded by mu; bytes of message text held
	dropped int      // guarded by mu; index entries dropped since the index was last copied
	epochs  runs     // guarded by mu; the epochs of the entries
	// history is the saved epoch history, when hasHistory; the promise
	// likewise. Both guarded by mu. A Memory keeps them only for as long
	// as it lives, like its log: a node without a data directory cannot
	// take part in failover.
	history    epoch.History
	hasHistory bool
	promise    Promise
	hasPromise bool
	changed    changes
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory log named logID.
func NewMemory(logID string) *Memory { return &Memory{logID: logID, first: 1} }

// last is the id of the newest entry; first-1 when the log is empty.
func (m *Memory) last() uint64 { return m.first + uint64(len(m.index)) - 1 }

// Append implements Store.
func (m *Memory) Append(recs ...Record) (uint64, error) {
	if err := checkKeys(recs); err != nil {
		return 0, err // refused as a durable log does, though memory keeps no keys
	}
	now := time.Now().UnixNano()
	m.mu.Lock()
	for _, r := range recs {
		m.epochs.add(m.last()+1, r.Epoch)
		m.add(r.Message)
		m.newest[len(m.newest)-1] = now // per record: a batch may fill one chunk and start the next
	}
	last := m.last()
	m.mu.Unlock()
	if len(recs) > 0 {
		m.changed.notify()
	}
	return last, nil
}

// Changed implements Store.
func (m *Memory) Changed() <-chan struct{} { return m.changed.wait() }

func (m *Memory) add(msg string) {
	last := len(m.chunks) - 1
	if last < 0 || len(m.chunks[last])+len(msg) > cap(m.chunks[last]) {
		m.chunks = append(m.chunks, newChunk(max(chunkSize, len(msg))))
		m.newest = append(m.newest, 0)
		last++
	}
	c := m.chunks[last]
	m.index = append(m.index, span{chunk: uint32(last), off: uint32(len(c)), n: uint32(len(msg))})
	m.chunks[last] = append(c, msg...) // within capacity: readers' bytes do not move
	m.held += int64(len(msg))
}

// Keys implements Store: nothing survives a restart of memory.
func (m *Memory) Keys() []KeyRecord { return nil }

// Read implements Store. Messages are copied out, so the arenas can be
// unmapped by Reset.
func (m *Memory) Read(dst []frame.Entry, from uint64, limit, maxBytes int) ([]frame.Entry, error) {
	if from == 0 {
		return dst, ErrBadRange
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	from = max(from, m.first) // below the first id: from the first held
	bytes := 0
	ep := m.epochs.from(from)
	for id := from; id <= m.last() && limit > 0; id++ {
		s := m.index[id-m.first]
		if bytes > 0 && bytes+int(s.n) > maxBytes {
			break
		}
		// No key: a Memory keeps none (see Keys).
		dst = append(dst, Record{Epoch: ep.of(id)}.entry(id, m.message(s)))
		bytes += int(s.n)
		limit--
	}
	return dst, nil
}

func (m *Memory) message(s span) string {
	return string(m.chunks[s.chunk][s.off : s.off+s.n])
}

// newChunk maps an arena of n bytes outside the Go heap, falling back to
// the heap where mapping fails.
func newChunk(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, 0, n)
	}
	return b[:0]
}

// freeChunks unmaps arenas; heap ones are left to the collector.
func freeChunks(chunks [][]byte) {
	for _, c := range chunks {
		if c != nil {
			_ = syscall.Munmap(c[:cap(c)]) // fails harmlessly for a heap fallback
		}
	}
}

// LastID implements Store.
func (m *Memory) LastID() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.last()
}

// FirstID implements Store.
func (m *Memory) FirstID() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.first
}

// HeldBytes implements Store.
func (m *Memory) HeldBytes() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.held
}

// DropBefore implements Store.
func (m *Memory) DropBefore(id uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case id <= m.first:
		return nil
	case id > m.last()+1:
		freeChunks(m.chunks)
		m.first, m.index, m.chunks, m.newest, m.held, m.dropped = id, nil, nil, nil, 0, 0
		return nil
	}
	k := id - m.first
	for _, s := range m.index[:k] {
		m.held -= int64(s.n)
	}
	m.index, m.dropped = m.index[k:], m.dropped+int(k)
	if m.dropped > 1024 && m.dropped > len(m.index) { // give the dropped front of the index back
		m.index, m.dropped = append(make([]span, 0, len(m.index)+len(m.index)/4+16), m.index...), 0
	}
	m.first = id
	// Every chunk before the one the first held message is in is free;
	// an empty log keeps its last chunk, which appends still fill.
	keep := len(m.chunks) - 1
	if len(m.index) > 0 {
		keep = int(m.index[0].chunk)
	}
	for i := range m.chunks[:max(keep, 0)] {
		if m.chunks[i] != nil {
			freeChunks(m.chunks[i : i+1])
			m.chunks[i] = nil
		}
	}
	return nil
}

// FitBytes implements Store.
func (m *Memory) FitBytes(limit int64) uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	held, id := m.held, m.first
	for _, s := range m.index {
		if held <= limit {
			break
		}
		held -= int64(s.n)
		id++
	}
	return id
}

// AgedBefore implements Store, judging each chunk by its newest message.
func (m *Memory) AgedBefore(cutoff time.Time) uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.index) == 0 {
		return m.first
	}
	c := cutoff.UnixNano()
	old := -1 // the newest chunk, short of the last, that is all old
	for i := int(m.index[0].chunk); i < len(m.chunks)-1 && m.newest[i] < c; i++ {
		old = i
	}
	if old < 0 {
		return m.first
	}
	// The first id past chunk old: binary search the index by chunk.
	k := sort.Search(len(m.index), func(k int) bool { return int(m.index[k].chunk) > old })
	return m.first + uint64(k)
}

// LogID implements Store.
func (m *Memory) LogID() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.logID
}

// Reset implements Store.
func (m *Memory) Reset(logID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	freeChunks(m.chunks)
	m.logID, m.first, m.index, m.chunks, m.newest, m.held, m.dropped = logID, 1, nil, nil, nil, 0, 0
	m.epochs, m.history, m.hasHistory = nil, nil, false // a new log has no history; the node keeps its promise
	m.changed.notify()
	return nil
}

// Close implements Store. The log is gone after it.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	freeChunks(m.chunks)
	m.index, m.chunks = nil, nil
	m.changed.notify()
	return nil
}

// EpochOf implements Store.
func (m *Memory) EpochOf(id uint64) uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if id < m.first || id > m.last() {
		return 0
	}
	return m.epochs.of(id)
}

// History implements Store.
func (m *Memory) History() epoch.History {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.hasHistory {
		return defaultHistory(m.last() > 0)
	}
	return append(epoch.History(nil), m.history...)
}

// SetHistory implements Store.
func (m *Memory) SetHistory(h epoch.History) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := checkHistory(h, m.epochs, m.first, m.last()); err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	m.history, m.hasHistory = append(epoch.History(nil), h...), true
	return nil
}

// Promise implements Store.
func (m *Memory) Promise() Promise {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.hasPromise {
		return defaultPromise(m.last() > 0)
	}
	return m.promise
}

// SetPromise implements Store.
func (m *Memory) SetPromise(p Promise) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.promise, m.hasPromise = p, true
	return nil
}

// RollBackAfter implements Store without a file: a Memory has no data
// directory, so the entries are only dropped, and the caller can only log
// their ids. (A node without DATA_DIR cannot join a failover cluster; a
// Memory rolls back for tests of the callers.) The arena bytes of the
// entries stay mapped until their chunks are dropped.
func (m *Memory) RollBackAfter(keep, cause uint64) (Rollback, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	last := m.last()
	if err := checkKeep(keep, m.first, last); err != nil {
		return Rollback{}, err
	}
	rb := Rollback{Epoch: cause, From: keep + 1, To: last}
	if keep >= last {
		return rb, nil
	}
	k := keep + 1 - m.first
	for _, s := range m.index[k:] {
		m.held -= int64(s.n)
	}
	m.index = m.index[:k]
	m.epochs = m.epochs.cut(keep)
	if m.hasHistory {
		m.history = epoch.Adopt(m.history, keep)
	}
	m.changed.notify()
	return rb, nil
}
