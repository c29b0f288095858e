package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// ErrDiskFull wraps write failures for lack of space, so that the API can
// say so; the store recovers by itself once space is back.
var ErrDiskFull = errors.New("disk full")

// ErrClosed is returned by appends to a closed store.
var ErrClosed = errors.New("store closed")

// Append implements Store with group commit.
func (d *Disk) Append(recs ...Record) (uint64, error) {
	if err := checkKeys(recs); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, ErrClosed
	}
	if d.broken != nil {
		return 0, d.broken
	}
	if len(recs) == 0 {
		return d.visible, nil
	}
	gen := d.gen
	for _, r := range recs {
		off := len(d.buf)
		d.buf = appendRecord(d.buf, d.next, r)
		d.pending = append(d.pending, pendingID{entry: r.entry(d.next, r.Message), off: off, digest: r.Digest})
		d.next++
	}
	last := d.next - 1
	for {
		switch {
		case d.gen != gen:
			return 0, d.failure
		case d.visible >= last:
			return last, nil
		case !d.leading:
			d.lead()
		default:
			d.cond.Wait()
		}
	}
}

// lead writes everything pending as one batch. It is called, and returns,
// with mu held, and releases it for the I/O.
func (d *Disk) lead() {
	d.leading = true
	buf, pending := d.buf, d.pending
	d.buf, d.pending, d.spare = d.spare[:0], nil, nil
	seg, err := d.segmentFor(pending[0].entry.ID, int64(len(buf)))
	start := int64(0)
	if err == nil {
		start = seg.size
		d.mu.Unlock()
		err = d.write(seg, start, buf, len(pending))
		d.mu.Lock()
	}
	if err != nil {
		d.fail(seg, start, err)
	} else {
		d.commit(seg, start, pending, int64(len(buf)))
		d.dirty = d.opts.Fsync != FsyncAlways
	}
	d.spare = buf
	d.leading = false
	d.cond.Broadcast()
}

// write puts buf, which holds records, at off in seg and, under
// FsyncAlways, makes it durable.
func (d *Disk) write(seg *segment, off int64, buf []byte, records int) error {
	if writeHook != nil {
		if err := writeHook(); err != nil {
			return err
		}
	}
	if _, err := seg.f.WriteAt(buf, off); err != nil {
		return err
	}
	if d.opts.Fsync == FsyncAlways {
		return d.sync(seg.f, records)
	}
	return nil
}

// sync fsyncs f, which makes records durable, and tells OnFsync.
func (d *Disk) sync(f *os.File, records int) error {
	start := time.Now()
	err := f.Sync()
	if err == nil && d.opts.OnFsync != nil {
		d.opts.OnFsync(time.Since(start), records)
	}
	return err
}

// writeHook, when set by a test, fails writes as a full disk would.
var writeHook func() error

// commit makes a written batch visible and indexes it.
func (d *Disk) commit(seg *segment, start int64, pending []pendingID, n int64) {
	for _, p := range pending {
		if (p.entry.ID-seg.first)%indexEvery == 0 {
			seg.index = append(seg.index, uint32(start)+uint32(p.off))
			seg.textAt = append(seg.textAt, uint32(seg.text))
		}
		d.tail.push(p.entry)
		d.epochs.add(p.entry.ID, p.entry.Epoch)
		if p.entry.Key != "" {
			d.keepKey(KeyRecord{Key: p.entry.Key, ID: p.entry.ID, Digest: p.digest, Time: time.UnixMilli(p.entry.At)})
		}
		seg.text += int64(len(p.entry.Message))
		d.text += int64(len(p.entry.Message))
	}
	seg.size = start + n
	seg.newest = time.Now()
	d.visible = pending[len(pending)-1].entry.ID
	d.changed.notify()
}

// fail drops every append not yet visible: the failed batch and any that
// queued behind it, since their ids follow ids that were not written.
// The partial write is cut off, so nothing half-written is ever read.
func (d *Disk) fail(seg *segment, start int64, err error) {
	if seg != nil {
		_ = seg.f.Truncate(start) // best effort; recovery cuts a torn tail too
	}
	if errors.Is(err, syscall.ENOSPC) {
		err = fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	d.gen++
	d.failure = fmt.Errorf("write log: %w", err)
	d.next = d.visible + 1
	d.buf, d.pending = d.buf[:0], nil
}

// segmentFor returns the segment the batch starting at first goes to,
// starting a new one when the active one is full.
func (d *Disk) segmentFor(first uint64, n int64) (*segment, error) {
	if len(d.segs) > 0 {
		seg := d.segs[len(d.segs)-1]
		if seg.size == 0 || seg.size+n <= d.opts.SegmentBytes {
			return seg, nil
		}
		if d.opts.Fsync != FsyncNever {
			if err := seg.f.Sync(); err != nil { // a closed segment is complete on disk
				return nil, err
			}
		}
	}
	f, err := os.OpenFile(segmentName(d.dir, first), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if d.opts.Fsync != FsyncNever {
		if err := syncDir(d.dir); err != nil {
			f.Close()
			return nil, err
		}
	}
	seg := &segment{first: first, f: f}
	d.segs = append(d.segs, seg)
	return seg, nil
}
