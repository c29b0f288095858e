package replication

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// woken reports whether a wake-up waits on wake, and takes it.
func woken(wake chan struct{}) bool {
	select {
	case <-wake:
		return true
	default:
		return false
	}
}

// TestProgressAckWakesTheLoopInEveryOrder: the loop's two steps into sleep
// (next says the flow is full, sleep) and the reader's ack that frees the
// flow, in every order: either the loop sees the ack before it sleeps, or
// the ack wakes it.
func TestProgressAckWakesTheLoopInEveryOrder(t *testing.T) {
	orders := map[string][]string{
		"ack before next":       {"ack", "next", "sleep"},
		"ack between the steps": {"next", "ack", "sleep"},
		"ack after sleep":       {"next", "sleep", "ack"},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			wake := make(chan struct{}, 1)
			p := newProgress(1, 100, 1, false, wake)
			const last = 10
			if from, n, _, _ := p.next(last, 4); from != 1 || n != 4 {
				t.Fatalf("first next = %d, %d; want 1, 4", from, n)
			}
			p.sent(4) // one frame of ids 1-4: with one frame in flight the flow is full
			var full, slept bool
			for _, step := range order {
				switch step {
				case "ack":
					if news, err := p.ack(4); !news || err != nil {
						t.Fatalf("ack(4) = %v, %v", news, err)
					}
				case "next":
					_, _, full, _ = p.next(last, 4)
				case "sleep":
					if !full {
						continue // the loop saw the ack: it sends rather than sleep
					}
					slept = p.sleep()
				}
			}
			switch {
			case !full:
				if order[0] != "ack" {
					t.Fatalf("%v: next took an ack the reader had not stored yet", order)
				}
			case slept && !woken(wake):
				t.Fatalf("%v: the loop sleeps, and the ack that frees it did not wake it", order)
			case !slept:
				// sleep saw the ack: the loop looks again, and sends.
			}
			if from, n, full, _ := p.next(last, 4); from != 5 || n != 4 || full {
				t.Fatalf("%v: after the ack next = %d, %d, full %v; want 5, 4", order, from, n, full)
			}
		})
	}
}

// TestProgressNeverSleepsPastAnAck: under any interleaving of the loop's
// steps (look, sleep, send, take a wake-up), the reader's acks and
// wake-ups from elsewhere, the loop never sleeps with an ack it has not
// taken and no wake-up pending. The loop's steps are the calls it makes
// one by one, so rapid puts the reader's acks between any two of them.
func TestProgressNeverSleepsPastAnAck(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		window := rapid.Uint64Range(1, 20).Draw(t, "window")
		maxFrames := rapid.IntRange(1, 3).Draw(t, "maxFrames")
		wake := make(chan struct{}, 1)
		p := newProgress(1, window, maxFrames, false, wake)
		var last, sentTo, acked uint64 // the log, what the loop sent, what the reader acked
		const (
			running  = iota // the loop will look
			full            // next said full: the loop will try to sleep
			sleeping        // sleep said yes: only a wake-up moves it
		)
		state := running
		t.Repeat(map[string]func(*rapid.T){
			"append": func(t *rapid.T) { last += rapid.Uint64Range(1, 10).Draw(t, "n") },
			"loop": func(t *rapid.T) {
				switch state {
				case running:
					from, n, isFull, err := p.next(last, rapid.IntRange(1, 8).Draw(t, "max"))
					if err != nil {
						t.Fatal(err)
					}
					if isFull {
						state = full
					} else if n > 0 {
						p.sent(n)
						sentTo = max(sentTo, from+uint64(n)-1)
					}
				case full:
					if p.sleep() {
						state = sleeping
					} else {
						state = running
					}
				case sleeping:
					t.Skip("asleep: only a wake-up moves the loop")
				}
			},
			"wake-up": func(t *rapid.T) {
				if state == sleeping && woken(wake) {
					state = running
				}
			},
			"poke": func(t *rapid.T) { // a hurry, or retention: the loop looks again
				select {
				case wake <- struct{}{}:
				default:
				}
			},
			"ack": func(t *rapid.T) {
				if sentTo <= acked {
					t.Skip("nothing to ack")
				}
				acked = rapid.Uint64Range(acked+1, sentTo).Draw(t, "id")
				if news, err := p.ack(acked); !news || err != nil {
					t.Fatalf("ack(%d) of ids sent = %v, %v", acked, news, err)
				}
			},
			"nack": func(t *rapid.T) {
				if state == full {
					t.Skip("between next and sleep the loop takes no nack")
				}
				if err := p.nack(rapid.Uint64Range(p.flow.Acked()+1, sentTo+1).Draw(t, "from")); err != nil {
					t.Fatal(err)
				}
				state = running // the nack woke it: it looks again
			},
			"": func(t *rapid.T) {
				if state == sleeping && len(wake) == 0 && acked > p.flow.Acked() {
					t.Fatalf("the loop sleeps having taken the ack of %d; the reader stored %d and woke nobody",
						p.flow.Acked(), acked)
				}
			},
		})
	})
}

// TestProgressHandshakeBetweenGoroutines: a loop and a reader on their own
// goroutines, as in a session: the loop sends what the flow lets it and
// sleeps when it is full; the reader acks every frame. All ids arrive,
// with nothing but the acks to wake the loop.
func TestProgressHandshakeBetweenGoroutines(t *testing.T) {
	const last = 50000
	wake := make(chan struct{}, 1)
	p := newProgress(1, 64, 2, false, wake)
	frames := make(chan uint64, 4) // the "connection": at most maxFrames are in flight
	done := make(chan error, 1)
	go func() { // the reader
		for id := range frames {
			if _, err := p.ack(id); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	deadline := time.After(30 * time.Second)
	for sent := uint64(0); sent < last; {
		from, n, full, err := p.next(last, 16)
		if err != nil {
			t.Fatal(err)
		}
		if full {
			if !p.sleep() {
				continue
			}
			select {
			case <-wake:
			case <-deadline:
				t.Fatalf("the loop sleeps with ids up to %d sent, %d acked by the reader and taken %d",
					sent, p.mail.Load()>>1, p.flow.Acked())
			}
			continue
		}
		p.sent(n)
		sent = from + uint64(n) - 1
		frames <- sent
	}
	close(frames)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestProgressRefusesAnAckForIdsNeverSent(t *testing.T) {
	p := newProgress(5, 100, 2, false, make(chan struct{}, 1))
	if news, err := p.ack(4); news || err != nil {
		t.Fatalf("ack of an id the peer held at the start = %v, %v; want old news", news, err)
	}
	if _, err := p.ack(5); err == nil {
		t.Fatal("an ack of id 5, never sent, was taken")
	}
	p.next(10, 3)
	p.sent(3)
	if news, err := p.ack(7); !news || err != nil {
		t.Fatalf("ack(7) after ids 5-7 were sent = %v, %v", news, err)
	}
	if news, err := p.ack(6); news || err != nil {
		t.Fatalf("ack(6) after ack(7) = %v, %v; want old news", news, err)
	}
}
