package store

import (
	"sync"
	"syscall"

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
type Memory struct {
	mu      sync.RWMutex
	logID   string   // guarded by mu
	index   []span   // guarded by mu; index[i] locates id i+1
	chunks  [][]byte // guarded by mu; bytes below each len are never written again
	changed changes
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory log named logID.
func NewMemory(logID string) *Memory { return &Memory{logID: logID} }

// Append implements Store.
func (m *Memory) Append(recs ...Record) (uint64, error) {
	m.mu.Lock()
	for _, r := range recs {
		m.add(r.Message)
	}
	last := uint64(len(m.index))
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
		last++
	}
	c := m.chunks[last]
	m.index = append(m.index, span{chunk: uint32(last), off: uint32(len(c)), n: uint32(len(msg))})
	m.chunks[last] = append(c, msg...) // within capacity: readers' bytes do not move
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
	bytes := 0
	for id := from; id <= uint64(len(m.index)) && limit > 0; id++ {
		s := m.index[id-1]
		if bytes > 0 && bytes+int(s.n) > maxBytes {
			break
		}
		dst = append(dst, frame.Entry{ID: id, Message: m.message(s)})
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
		_ = syscall.Munmap(c[:cap(c)]) // fails harmlessly for a heap fallback
	}
}

// LastID implements Store.
func (m *Memory) LastID() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return uint64(len(m.index))
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
	m.logID, m.index, m.chunks = logID, nil, nil
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
