package follow

import (
	"testing"

	"github.com/replog/replog/shared/frame"
)

// TestInboxWakesTheApplierOnlyForFrames: the reader's own claims leave
// the applier goroutine asleep; frames put during a claim wake it once
// the claim ends, and it takes them all, in order.
func TestInboxWakesTheApplierOnlyForFrames(t *testing.T) {
	in := newInbox()
	for range 3 {
		if !in.claim() {
			t.Fatal("claim refused with nothing waiting")
		}
		in.done()
	}
	if len(in.ready) != 0 {
		t.Fatal("the applier goroutine is woken after claims with nothing put")
	}
	if !in.claim() {
		t.Fatal("claim refused with nothing waiting")
	}
	in.put([]frame.Entry{{ID: 1}})
	in.put([]frame.Entry{{ID: 2}})
	if in.claim() {
		t.Fatal("claim taken while another holds the inbox")
	}
	in.done()
	if len(in.ready) != 1 {
		t.Fatal("frames put during a claim leave the applier goroutine asleep")
	}
	frames, ok := in.take()
	if !ok || len(frames) != 2 || frames[0][0].ID != 1 || frames[1][0].ID != 2 {
		t.Fatalf("take = %v, %v; want frames 1 and 2", frames, ok)
	}
	if in.claim() {
		t.Fatal("claim taken while the applier goroutine holds the inbox")
	}
	in.done()
	in.close()
	if _, ok := in.take(); ok {
		t.Fatal("take after close")
	}
}
