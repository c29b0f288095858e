package httpapi

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/replog/replog/shared/store"
)

// TestRepliesEndWithOneNewline: every JSON reply written here ends with
// exactly one newline: errors, values, and pages small and large.
func TestRepliesEndWithOneNewline(t *testing.T) {
	st := store.NewMemory("L")
	for _, m := range []string{"a", strings.Repeat("x", 600<<10), strings.Repeat("y", 600<<10)} {
		if _, err := st.Append(store.Record{Message: m}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	defer close(done)
	rd := NewReads(st, ReadLimits{MaxStreams: 1, MaxLargeReads: 1}, done)
	page := func(query string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			rd.Messages(w, httptest.NewRequest(http.MethodGet, "/messages?"+query, nil))
		}
	}
	for name, write := range map[string]func(w http.ResponseWriter){
		"an error":          func(w http.ResponseWriter) { WriteError(w, Errorf(http.StatusBadRequest, "bad")) },
		"an internal error": func(w http.ResponseWriter) { WriteError(w, errors.New("disk on fire")) },
		"a value":           func(w http.ResponseWriter) { WriteJSON(w, http.StatusOK, map[string]int{"a": 1}) },
		"a small page":      page("limit=1"),
		"a large page":      page(""),
		"a refused page":    page("from=0"),
	} {
		rec := httptest.NewRecorder()
		write(rec)
		if b := rec.Body.Bytes(); !bytes.HasSuffix(b, []byte("\n")) || bytes.HasSuffix(b, []byte("\n\n")) {
			t.Errorf("%s: the body %.80q… does not end with exactly one newline", name, b)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
	}
}
