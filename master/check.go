package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/replog/replog/shared/poll"
	"github.com/replog/replog/shared/serve"
)

// checkCommand is `master check`, the Helm chart's `helm test`: an append
// at a write concern through the write service, read back from a
// secondary through the read service. The images have no shell or curl.
var checkCommand = serve.Command{Name: "check", Run: check,
	About: "append through WRITE_URL at WRITE_CONCERN (default majority), following redirects, then read it back from READ_URL within CHECK_TIMEOUT (default 60s)"}

// checkSettings are check's own variables.
type checkSettings struct {
	WriteURL     string        `envconfig:"WRITE_URL" required:"true"`
	ReadURL      string        `envconfig:"READ_URL" required:"true"`
	WriteConcern string        `envconfig:"WRITE_CONCERN" default:"majority"`
	Timeout      time.Duration `envconfig:"CHECK_TIMEOUT" default:"60s"`
}

// writeConcern is WRITE_CONCERN as the append's JSON takes it: a number
// of nodes or "majority".
func (s checkSettings) writeConcern() (any, error) {
	if s.WriteConcern == "majority" {
		return s.WriteConcern, nil
	}
	n, err := strconv.Atoi(s.WriteConcern)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("WRITE_CONCERN: %q is not a number of nodes (at least 1) or majority", s.WriteConcern)
	}
	return n, nil
}

// check runs the check and says in one line what it saw: 0 when the
// message was read back, 1 when not, 2 for a bad setting.
func check(node serve.Node, stdout, stderr io.Writer) int {
	var s checkSettings
	if err := serve.LoadEnv(&s); err != nil {
		fmt.Fprintf(stderr, "master check: %v\n", err)
		return serve.ExitUsage
	}
	wc, err := s.writeConcern()
	if err != nil {
		fmt.Fprintf(stderr, "master check: %v\n", err)
		return serve.ExitUsage
	}
	c, err := serve.PeerClient(node, 10*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "master check: %v\n", err)
		return serve.ExitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	start := time.Now()
	msg := "replog check " + rand.Text()
	id, err := appendChecked(ctx, c, s.WriteURL, msg, wc)
	if err == nil {
		err = readBack(ctx, c, s.ReadURL, id, msg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "master check: %v\n", err)
		return serve.ExitFailed
	}
	fmt.Fprintf(stdout, "master check: appended id %d at writeConcern %v through %s, read back from %s in %s\n",
		id, wc, s.WriteURL, s.ReadURL, time.Since(start).Round(time.Millisecond))
	return serve.ExitOK
}

// appendChecked appends msg through base (a standby's 307 leads to the
// leader), again until it is accepted or ctx ends: no leader yet is 503.
// One Idempotency-Key makes every try the same append.
func appendChecked(ctx context.Context, c *http.Client, base string, msg string, wc any) (uint64, error) {
	body, err := json.Marshal(map[string]any{"message": msg, "writeConcern": wc})
	if err != nil {
		return 0, err
	}
	key := rand.Text()
	var id uint64
	var refused error // a 4xx: trying again would not change it
	err = poll.Until(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/messages", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("append: %w", err)
		}
		defer resp.Body.Close()
		var a struct {
			ID    uint64 `json:"id"`
			Error string `json:"error"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a)
		switch {
		case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
			refused = fmt.Errorf("append refused by %s: %s %s", resp.Request.URL.Host, resp.Status, a.Error)
		case resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK:
			return fmt.Errorf("append through %s: %s %s", resp.Request.URL.Host, resp.Status, a.Error)
		}
		id = a.ID
		return nil
	})
	if refused != nil {
		return 0, refused
	}
	return id, err
}

// readBack reads from base until id is there holding msg, or ctx ends.
func readBack(ctx context.Context, c *http.Client, base string, id uint64, msg string) error {
	var seen error // what the last answered read showed
	return poll.Until(ctx, func() error {
		// A long-poll, but one that leaves time for its answer before the
		// deadline: the last try then says what it saw, not that it ran out.
		wait := time.Second
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(d)/2)
		}
		u := fmt.Sprintf("%s/messages?from=%d&limit=1&waitMs=%d", strings.TrimSuffix(base, "/"), id, max(wait.Milliseconds(), 0))
		var page struct {
			Messages []struct {
				ID      uint64 `json:"id"`
				Message string `json:"message"`
			} `json:"messages"`
		}
		if err := getJSON(ctx, c, u, &page); err != nil {
			if ctx.Err() != nil && seen != nil {
				return seen // the deadline cut this read short: say what the last answered one saw
			}
			return fmt.Errorf("read %s: %w", redact(u), err)
		}
		switch {
		case len(page.Messages) == 0 || page.Messages[0].ID != id:
			seen = fmt.Errorf("id %d is not on %s yet", id, redact(base))
		case page.Messages[0].Message != msg:
			seen = fmt.Errorf("id %d on %s holds %q, not the message appended", id, redact(base), page.Messages[0].Message)
		default:
			return nil
		}
		return seen
	})
}

// redact is a URL without its query, for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.RawQuery = ""
	return u.String()
}
