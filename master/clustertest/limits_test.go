package clustertest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentLargeReadsBoundMemory: 50 clients read a page of 1 MiB
// messages at once; the master builds at most MAX_LARGE_READS of them at
// a time, so its peak RSS stays near that many pages, and every client
// still gets its whole page. The peak is logged. By default the pages
// are of 8 MiB, to keep make test short; LARGE_READS_TEST_PAGE_MIB=64
// (a full page) and LARGE_READS_TEST_LIMIT (MAX_LARGE_READS) measure
// the figures README states.
func TestConcurrentLargeReadsBoundMemory(t *testing.T) {
	const readers = 50
	limit := os.Getenv("LARGE_READS_TEST_LIMIT")
	if limit == "" {
		limit = "2"
	}
	pageMiB := 8
	if s := os.Getenv("LARGE_READS_TEST_PAGE_MIB"); s != "" {
		var err error
		if pageMiB, err = strconv.Atoi(s); err != nil {
			t.Fatalf("LARGE_READS_TEST_PAGE_MIB: %v", err)
		}
	}
	m := startMaster(t, "MAX_LARGE_READS="+limit)
	limitQ := fmt.Sprintf("/messages?limit=%d", pageMiB)
	msg := strings.Repeat("x", 1<<20-64)
	for range pageMiB + 2 { // more than a page: every read is cut at 64 MiB or at the page
		if r := appendMsg(t, m, msg, 1); r.Status != http.StatusCreated {
			t.Fatalf("append: %d %s", r.Status, r.Error)
		}
	}
	base := rss(t, m)
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	client := http.Client{Timeout: 2 * time.Minute}
	for range readers {
		wg.Go(func() {
			resp, err := client.Get(m.url() + limitQ)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			n, err := io.Copy(io.Discard, resp.Body)
			if err == nil && (resp.StatusCode != http.StatusOK || n < int64(pageMiB-1)<<20) {
				err = fmt.Errorf("status %d, %d bytes", resp.StatusCode, n)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a full-page read: %v", err)
		}
	}
	peak := procStatus(t, m, "VmHWM")
	t.Logf("MAX_LARGE_READS=%s, %d concurrent reads of %d MiB pages: RSS %d MiB before, peak %d MiB",
		limit, readers, pageMiB, base>>20, peak>>20)
	// Each large read holds its page, its messages copied out of the log
	// and their encoding going out; the Go heap grows to twice what is
	// live before a collection, and freed pages go back to the OS lazily.
	if n, _ := strconv.Atoi(limit); peak-base > int64(8*n*pageMiB)<<20+256<<20 {
		t.Fatalf("peak RSS grew by %d MiB with %d large reads of %d MiB at a time", (peak-base)>>20, n, pageMiB)
	}
}
