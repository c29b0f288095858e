package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/replog/replog/shared/frame"
)

// BenchmarkDecodeRecord measures decoding one record of today's layout
// (no epoch flag): what recovery and every read from a file pay.
func BenchmarkDecodeRecord(b *testing.B) {
	rec := appendRecord(nil, 12345, Record{Message: strings.Repeat("x", 100)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadFromFile measures Read of 256 entries that are no longer
// in the tail cache, so that every one is decoded from a segment file.
func BenchmarkReadFromFile(b *testing.B) {
	d, err := OpenDisk(b.TempDir(), DiskOptions{NewLogID: "L", Fsync: FsyncNever, TailEntries: 16})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	batch := make([]Record, 256)
	for i := range batch {
		batch[i] = Record{Message: fmt.Sprintf("message-%06d", i)}
	}
	for range 8 {
		if _, err := d.Append(batch...); err != nil {
			b.Fatal(err)
		}
	}
	var dst []frame.Entry
	b.ReportAllocs()
	for b.Loop() {
		if dst, err = d.Read(dst[:0], 257, 256, 1<<20); err != nil || len(dst) != 256 {
			b.Fatalf("read %d entries: %v", len(dst), err)
		}
	}
}
