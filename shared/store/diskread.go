package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/replog/replog/shared/frame"
)

// tailCache keeps the newest entries in memory: live replication reads
// what was just appended, and should not go to the file for it.
type tailCache struct {
	ring  []frame.Entry
	first uint64 // id held at ring[first % len]; 0 when empty
	last  uint64
}

func newTailCache(n int) tailCache { return tailCache{ring: make([]frame.Entry, n)} }

func (t *tailCache) push(e frame.Entry) {
	if t.first == 0 || e.ID != t.last+1 {
		t.first = e.ID
	}
	t.last = e.ID
	t.ring[e.ID%uint64(len(t.ring))] = e
	if t.last-t.first >= uint64(len(t.ring)) {
		t.first = t.last - uint64(len(t.ring)) + 1
	}
}

// covers reports whether from is in the cache.
func (t *tailCache) covers(from uint64) bool {
	return t.first != 0 && from >= t.first && from <= t.last
}

func (t *tailCache) read(dst []frame.Entry, from uint64, limit, maxBytes int) []frame.Entry {
	bytes := 0
	for id := from; id <= t.last && limit > 0; id++ {
		e := t.ring[id%uint64(len(t.ring))]
		if bytes > 0 && bytes+len(e.Message) > maxBytes {
			break
		}
		dst = append(dst, e)
		bytes += len(e.Message)
		limit--
	}
	return dst
}

// segView is what a reader needs of a segment, taken under the lock so
// the file is read without it.
type segView struct {
	first  uint64
	f      *os.File
	size   int64
	index  []uint32
	textAt []uint32
	text   int64
}

func (s *segment) view() segView {
	return segView{first: s.first, f: s.f, size: s.size, index: s.index, textAt: s.textAt, text: s.text}
}

// Read implements Store.
func (d *Disk) Read(dst []frame.Entry, from uint64, limit, maxBytes int) ([]frame.Entry, error) {
	if from == 0 {
		return dst, ErrBadRange
	}
	d.mu.Lock()
	visible := d.visible
	from = max(from, d.first) // below the first id: from the first held
	if from > visible || limit <= 0 {
		d.mu.Unlock()
		return dst, nil
	}
	if d.tail.covers(from) {
		dst = d.tail.read(dst, from, limit, maxBytes)
		d.mu.Unlock()
		return dst, nil
	}
	views := make([]segView, len(d.segs))
	for i, s := range d.segs {
		views[i] = s.view()
	}
	d.mu.Unlock()

	i := sort.Search(len(views), func(i int) bool { return views[i].first > from }) - 1
	if i < 0 {
		return dst, fmt.Errorf("read id %d: no segment holds it", from)
	}
	budget := readBudget{limit: limit, maxBytes: maxBytes, last: visible}
	for ; i < len(views) && !budget.done(); i++ {
		var err error
		if dst, err = readSegment(dst, views[i], from, &budget); err != nil {
			return dst, err
		}
		from = max(from, views[i].first)
	}
	return dst, nil
}

type readBudget struct {
	limit, maxBytes, bytes int
	last                   uint64
	next                   uint64 // the id wanted next; 0 before the first
}

func (b *readBudget) done() bool { return b.limit <= 0 || (b.next != 0 && b.next > b.last) }

// take reports whether an entry of n bytes fits, and counts it.
func (b *readBudget) take(n int) bool {
	if b.bytes > 0 && b.bytes+n > b.maxBytes {
		b.limit = 0
		return false
	}
	b.bytes += n
	b.limit--
	return true
}

// readSegment decodes entries from id from on out of one segment, starting
// at the indexed record at or before from.
func readSegment(dst []frame.Entry, v segView, from uint64, b *readBudget) ([]frame.Entry, error) {
	if from < v.first {
		from = v.first
	}
	k := int((from - v.first) / indexEvery)
	if k >= len(v.index) {
		k = len(v.index) - 1
	}
	if k < 0 {
		return dst, nil
	}
	r := newRecordReader(v.f, int64(v.index[k]), v.size)
	for !b.done() {
		rec, err := r.next()
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, fmt.Errorf("read segment %d: %w", v.first, err)
		}
		if rec.id < from {
			continue
		}
		if !b.take(len(rec.msg)) {
			break
		}
		dst = append(dst, rec.rec.entry(rec.id, string(rec.msg)))
		b.next = rec.id + 1
	}
	return dst, nil
}

// textBefore is the message text of v's records below id, counted from
// the indexed record at or before id: at most indexEvery-1 records are
// read.
func textBefore(v segView, id uint64) (int64, error) {
	if id <= v.first || len(v.index) == 0 {
		return 0, nil
	}
	k := min(int((id-v.first)/indexEvery), len(v.index)-1)
	n := int64(v.textAt[k])
	r := newRecordReader(v.f, int64(v.index[k]), v.size)
	for {
		rec, err := r.next()
		if err == io.EOF || (err == nil && rec.id >= id) {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read segment %d: %w", v.first, err)
		}
		n += int64(len(rec.msg))
	}
}

// idPast is the first id of v such that v's records below it hold at
// least need bytes of message text (0 < need <= v.text): the indexed
// counts find the stretch of indexEvery records it lies in, which is read.
func idPast(v segView, need int64) (uint64, error) {
	k := sort.Search(len(v.textAt), func(k int) bool { return int64(v.textAt[k]) >= need }) - 1
	if k < 0 {
		return 0, fmt.Errorf("read segment %d: no indexed record", v.first)
	}
	n := int64(v.textAt[k])
	r := newRecordReader(v.f, int64(v.index[k]), v.size)
	for {
		rec, err := r.next()
		if err == io.EOF {
			return 0, fmt.Errorf("read segment %d: %d bytes of message text, fewer than counted", v.first, n)
		}
		if err != nil {
			return 0, fmt.Errorf("read segment %d: %w", v.first, err)
		}
		if n += int64(len(rec.msg)); n >= need {
			return rec.id + 1, nil
		}
	}
}

// recordReader decodes records from a file region through a buffer.
type recordReader struct {
	f        *os.File
	off, end int64 // file offsets: next byte to read, end of data
	buf      []byte
	pos      int // next record in buf
}

func newRecordReader(f *os.File, off, end int64) *recordReader {
	return &recordReader{f: f, off: off, end: end, buf: make([]byte, 0, 256<<10)}
}

// next returns the next record, io.EOF at the end of the region, or an
// error naming the offset of a record that does not decode.
func (r *recordReader) next() (decoded, error) {
	for {
		d, err := decodeRecord(r.buf[r.pos:])
		if err == nil {
			r.pos += d.n
			return d, nil
		}
		at := r.off - int64(len(r.buf)-r.pos)
		if !errors.Is(err, errShort) {
			return decoded{}, fmt.Errorf("offset %d: %w", at, err)
		}
		if r.off >= r.end {
			if r.pos == len(r.buf) {
				return decoded{}, io.EOF
			}
			return decoded{}, fmt.Errorf("offset %d: %w", at, errShort)
		}
		if err := r.fill(); err != nil {
			return decoded{}, err
		}
	}
}

// fill keeps the unread bytes and reads more, growing the buffer for a
// record larger than it.
func (r *recordReader) fill() error {
	rest := copy(r.buf[:cap(r.buf)], r.buf[r.pos:])
	r.buf, r.pos = r.buf[:rest], 0
	if need := recordLen(r.buf); need > cap(r.buf) {
		r.buf = append(make([]byte, 0, need), r.buf...)
	} else if rest == cap(r.buf) {
		r.buf = append(make([]byte, 0, 2*cap(r.buf)), r.buf...)
	}
	n := min(int64(cap(r.buf)-rest), r.end-r.off)
	got, err := r.f.ReadAt(r.buf[rest:rest+int(n)], r.off)
	r.buf = r.buf[:rest+got]
	r.off += int64(got)
	if err != nil && !(err == io.EOF && got > 0) {
		return fmt.Errorf("read at %d: %w", r.off, err)
	}
	return nil
}

// recordLen is the full size of the record at the start of b, or 0 when
// b is too short to tell or the length is not sane.
func recordLen(b []byte) int {
	if len(b) < headerSize {
		return 0
	}
	n := int(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
	if n > MaxRecordBody {
		return 0
	}
	return headerSize + n
}

// recoverSegment scans one segment, checking every record and building
// the sparse index. In the last segment a torn final record is cut off;
// anything else that does not decode is corruption, and refused.
func (d *Disk) recoverSegment(name string, last bool) (*segment, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat segment: %w", err)
	}
	seg := &segment{first: d.next, f: f, newest: info.ModTime()}
	var first uint64
	if _, err := fmt.Sscanf(info.Name(), "%020d.seg", &first); err != nil || first != d.next {
		f.Close()
		return nil, fmt.Errorf("segment %s: expected one starting at id %d", name, d.next)
	}
	r := newRecordReader(f, 0, info.Size())
	for {
		at := r.off - int64(len(r.buf)-r.pos)
		rec, err := r.next()
		if err == io.EOF {
			return seg, nil
		}
		if err == nil && rec.id != d.next {
			err = fmt.Errorf("offset %d: id %d where %d belongs", at, rec.id, d.next)
		}
		if err != nil {
			if last && torn(f, at, info.Size()) {
				if terr := f.Truncate(at); terr != nil {
					f.Close()
					return nil, fmt.Errorf("cut torn tail of %s: %w", name, terr)
				}
				d.recovery.TornBytes = info.Size() - at
				return seg, nil
			}
			f.Close()
			return nil, fmt.Errorf("corrupt log: segment %s, id %d, %v; refusing to start "+
				"(restore the data directory from a backup, or move it aside to resync from the master)", name, d.next, err)
		}
		if (rec.id-seg.first)%indexEvery == 0 {
			seg.index = append(seg.index, uint32(at))
			seg.textAt = append(seg.textAt, uint32(seg.text))
		}
		d.epochs.add(rec.id, rec.rec.Epoch)
		if rec.rec.Key != "" {
			d.keepKey(KeyRecord{Key: rec.rec.Key, ID: rec.id, Digest: rec.rec.Digest, Time: rec.rec.Time})
		}
		seg.text += int64(len(rec.msg))
		seg.size = at + int64(rec.n)
		d.next++
	}
}

func (d *Disk) keepKey(k KeyRecord) {
	d.keys = append(d.keys, k)
	if len(d.keys) > 2*d.opts.KeepKeys {
		d.keys = append(d.keys[:0], d.keys[len(d.keys)-d.opts.KeepKeys:]...)
	}
}

// torn tells a torn write from corruption. A torn write leaves the bad
// record last in the file: it runs past the end or ends exactly there, or
// only zeros follow (a file extended before its data landed). Anything
// else is corruption.
func torn(f *os.File, at, size int64) bool {
	if size-at < headerSize {
		return true
	}
	var hdr [headerSize]byte
	if _, err := f.ReadAt(hdr[:], at); err != nil {
		return false
	}
	if l := recordLen(hdr[:]); l != 0 && at+int64(l) >= size {
		return true
	}
	if size-at > 1<<20 {
		return false
	}
	rest := make([]byte, size-at)
	if _, err := f.ReadAt(rest, at); err != nil {
		return false
	}
	return bytes.Count(rest, []byte{0}) == len(rest)
}
