package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// Reads serves the reads every node has: GET /messages, which can wait
// for what is not there yet (long-poll), and GET /messages/stream, which
// follows the log as server-sent events. At most a bounded number of
// streams and waiting long-polls are open at once; a shutdown ends them.
type Reads struct {
	store  store.Store
	commit *store.Commit   // the commit id this node knows; nil: none (committed=true is refused)
	slots  chan struct{}   // one per open stream or waiting long-poll
	large  chan struct{}   // one per GET /messages building a page above smallPageBytes
	stall  time.Duration   // a page not taken in this time ends its stream
	done   <-chan struct{} // closed when the server shuts down
}

// ReadLimits bound the reads a node serves at once.
type ReadLimits struct {
	// MaxStreams bounds the streams and waiting long-polls (MAX_STREAMS).
	MaxStreams int
	// MaxLargeReads bounds the GET /messages replies above 1 MiB being
	// built at once (MAX_LARGE_READS); more wait for a place.
	MaxLargeReads int
	// StreamWriteTimeout ends a stream whose consumer takes no page in
	// that time (STREAM_WRITE_TIMEOUT); 0 means a minute.
	StreamWriteTimeout time.Duration
}

// NewReads serves reads of st within lim; done ends every stream and
// waiting long-poll.
func NewReads(st store.Store, lim ReadLimits, done <-chan struct{}) *Reads {
	stall := lim.StreamWriteTimeout
	if stall <= 0 {
		stall = streamWriteTimeout
	}
	return &Reads{store: st, slots: make(chan struct{}, max(lim.MaxStreams, 1)),
		large: make(chan struct{}, max(lim.MaxLargeReads, 1)), stall: stall, done: done}
}

// WithCommit makes reads with committed=true show the ids up to c's
// commit id (never beyond the log's last id); without it such reads are
// refused (400): the node knows no commit id. Call it before serving.
func (rd *Reads) WithCommit(c *store.Commit) *Reads {
	rd.commit = c
	return rd
}

// smallPageBytes is the most message text a GET /messages reply holds
// without a large-read place: a page of small messages never waits, and
// a burst of full 64 MiB pages costs at most MaxLargeReads pages of
// memory at a time.
const smallPageBytes = 1 << 20

// MaxWaitMs bounds a long-poll's waitMs.
const MaxWaitMs = 60000

// acquire takes a follower slot, or says why not.
func (rd *Reads) acquire() error {
	select {
	case rd.slots <- struct{}{}:
		return nil
	default:
		return Errorf(http.StatusServiceUnavailable,
			"too many streams and waiting reads on this node (MAX_STREAMS=%d); retry later or read without waitMs", cap(rd.slots))
	}
}

func (rd *Reads) release() { <-rd.slots }

// Messages is GET /messages?from=&limit=&waitMs=&committed=: the page
// from from on, or, when nothing with an id >= from is there yet and
// waitMs is set, the first entries that arrive within waitMs (an empty
// page when none do). With committed=true it shows only ids up to the
// commit id this node knows, and a long-poll waits for the commit id to
// pass from as well as for the message.
func (rd *Reads) Messages(w http.ResponseWriter, r *http.Request) {
	p, err := ParsePage(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	wait, err := parseWait(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	v, err := rd.viewOf(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	entries, err := v.read(p.From, p.Limit, smallPageBytes)
	if err == nil && len(entries) == 0 && wait > 0 {
		entries, err = rd.await(r, v, p, wait)
	}
	if err == nil && v.cutShort(p, entries) {
		// The page would be larger than smallPageBytes: build it in
		// one of the few places for large replies, or wait for one.
		entries = nil // nothing held while waiting
		release, err := rd.acquireLarge(r)
		if err != nil {
			WriteError(w, err)
			return
		}
		defer release()
		if entries, err = v.read(p.From, p.Limit, maxPageBytes); err != nil {
			WriteError(w, err)
			return
		}
		writeMessages(w, entries) // never the whole page encoded at once
		return
	}
	if err != nil {
		WriteError(w, err)
		return
	}
	WriteRaw(w, http.StatusOK, AppendMessages(nil, entries))
}

// writeMessages writes the GET /messages body of entries a piece at a
// time, for a large page: what it holds beyond the entries is one piece.
func writeMessages(w http.ResponseWriter, entries []frame.Entry) {
	startJSON(w, http.StatusOK)
	buf := append(make([]byte, 0, 128<<10), `{"messages":[`...)
	for i, e := range entries {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = frame.AppendEntry(buf, e)
		entries[i].Message = "" // written: its copy can go
		if len(buf) >= 64<<10 {
			if _, err := w.Write(buf); err != nil {
				return // the client is gone
			}
			buf = buf[:0]
		}
	}
	_, _ = w.Write(append(buf, "]}\n"...)) // one newline, as WriteRaw ends every reply
}

// acquireLarge takes a large-read place, waiting for one as long as the
// client does: a waiting read costs its goroutine, not a page.
func (rd *Reads) acquireLarge(r *http.Request) (release func(), err error) {
	select {
	case rd.large <- struct{}{}:
		return func() { <-rd.large }, nil
	case <-r.Context().Done():
		return nil, Errorf(http.StatusServiceUnavailable, "the client left while its read waited")
	case <-rd.done:
		return nil, Errorf(http.StatusServiceUnavailable, "the node is shutting down")
	}
}

// await waits up to wait for entries from p.From on that v shows. It
// costs no goroutine beyond the handler's: it sleeps on the store's (and
// for a committed read, the commit id's) change broadcast.
func (rd *Reads) await(r *http.Request, v view, p Page, wait time.Duration) ([]frame.Entry, error) {
	if err := rd.acquire(); err != nil {
		return nil, err
	}
	defer rd.release()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		changed, moved := v.changed() // before the read: a change in between is not missed
		entries, err := v.read(p.From, p.Limit, maxPageBytes)
		if err != nil || len(entries) > 0 {
			return entries, err
		}
		select {
		case <-changed:
		case <-moved:
		case <-timer.C:
			return nil, nil
		case <-r.Context().Done():
			return nil, nil // the client is gone; nothing reads the reply
		case <-rd.done:
			return nil, nil
		}
	}
}

func parseWait(r *http.Request) (time.Duration, error) {
	s := r.URL.Query().Get("waitMs")
	if s == "" {
		return 0, nil
	}
	ms, err := strconv.Atoi(s)
	if err != nil || ms < 0 || ms > MaxWaitMs {
		return 0, Errorf(http.StatusBadRequest, "waitMs must be an integer from 0 to %d, got %q", MaxWaitMs, s)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Stream tuning: a page is what one stream holds at a time, so a slow or
// stalled consumer costs at most a page of memory; a write that a consumer
// does not take within streamWriteTimeout ends its stream.
const (
	streamPageEntries  = 1000
	streamPageBytes    = 1 << 20
	streamKeepAlive    = 15 * time.Second
	streamWriteTimeout = time.Minute
)

// Stream is GET /messages/stream?from=N&committed=: server-sent events,
// one per message (id: <id>, data: the entry's JSON), in id order from
// from (default: the next id to be written), or from Last-Event-ID + 1
// when that header is sent (an EventSource reconnecting). The log is read
// page by page for the consumer, and each page goes out in one write.
// With committed=true it sends only ids up to the commit id the node
// knows, and waits for the commit id as well as for messages. If the log
// is reset (a secondary taking another log), the stream ends with an
// event "reset" whose data is the new log id; if the node rolls back ids
// the stream sent (a failover: they were never on a majority), it ends
// with an event "rollback" whose data is the last id that stays, so that
// the consumer forgets what it got beyond it and reconnects from there.
// A committed stream never sends what can be rolled back.
func (rd *Reads) Stream(w http.ResponseWriter, r *http.Request) {
	v, err := rd.viewOf(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	next, err := streamStart(r, v)
	if err != nil {
		WriteError(w, err)
		return
	}
	if err := rd.acquire(); err != nil {
		WriteError(w, err)
		return
	}
	defer rd.release()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies: pass events on at once
	w.WriteHeader(http.StatusOK)
	logID := rd.store.LogID()
	keepAlive := time.NewTicker(streamKeepAlive)
	defer keepAlive.Stop()
	var (
		entries []frame.Entry
		seen    = seeLog(rd.store) // the log as the stream knew it, to tell a rollback of what it sent
	)
	buf := []byte(": replog stream of log " + logID + "\n\n")
	for {
		changed, moved := v.changed()
		if id := rd.store.LogID(); id != logID {
			buf = append(buf, "event: reset\ndata: "+id+"\n\n"...)
			_ = rd.send(rc, w, buf)
			return
		}
		if keep, ok := seen.rolledBack(rd.store); ok {
			buf = append(buf, "event: rollback\ndata: "...)
			buf = strconv.AppendUint(buf, keep, 10)
			_ = rd.send(rc, w, append(buf, "\n\n"...))
			return
		}
		entries, err = v.readInto(entries[:0], next, streamPageEntries, streamPageBytes)
		if err != nil {
			return // the log failed under us; the client reconnects with Last-Event-ID
		}
		for _, e := range entries {
			buf = appendEvent(buf, e)
			seen.add(e)
			next = e.ID + 1
		}
		if len(buf) > 0 {
			if rd.send(rc, w, buf) != nil {
				return
			}
			buf = buf[:0]
		}
		if len(entries) > 0 {
			continue // more may be there: read on before waiting
		}
		select {
		case <-changed:
		case <-moved:
		case <-keepAlive.C:
			buf = append(buf, ": keep-alive\n\n"...)
		case <-r.Context().Done():
			return
		case <-rd.done:
			return
		}
	}
}

// send writes buf and flushes it, bounded by the stream write timeout.
func (rd *Reads) send(rc *http.ResponseController, w http.ResponseWriter, buf []byte) error {
	_ = rc.SetWriteDeadline(time.Now().Add(rd.stall))
	if _, err := w.Write(buf); err != nil {
		return err
	}
	return rc.Flush()
}

// streamStart is where a stream begins: Last-Event-ID + 1, else from,
// else the id after the last the view shows (for a committed stream, the
// next to be committed).
func streamStart(r *http.Request, v view) (uint64, error) {
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, Errorf(http.StatusBadRequest, "Last-Event-ID must be a message id, got %q", s)
		}
		return id + 1, nil
	}
	if s := r.URL.Query().Get("from"); s != "" {
		from, err := strconv.ParseUint(s, 10, 64)
		if err != nil || from == 0 {
			return 0, Errorf(http.StatusBadRequest, "from must be an id >= 1, got %q", s)
		}
		return from, nil
	}
	return v.last() + 1, nil
}

// appendEvent encodes one message as a server-sent event. The entry's
// JSON has no raw newline (JSON escapes them), so it fits one data line.
func appendEvent(dst []byte, e frame.Entry) []byte {
	dst = append(dst, "id: "...)
	dst = strconv.AppendUint(dst, e.ID, 10)
	dst = append(dst, "\ndata: "...)
	dst = frame.AppendEntry(dst, e)
	return append(dst, "\n\n"...)
}
