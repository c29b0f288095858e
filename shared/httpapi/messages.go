package httpapi

import (
	"net/http"
	"strconv"

	"github.com/replog/replog/shared/frame"
)

// MaxPage caps how many messages one GET /messages returns; it is also the
// default, so a small log comes back whole.
const MaxPage = 10000

// maxPageBytes bounds a reply's message text so a page of large messages
// does not build a gigabyte reply; the client pages on from the last id.
const maxPageBytes = 64 << 20

// Page is a validated ?from=&limit= query.
type Page struct {
	From  uint64
	Limit int
}

// ParsePage reads from (first id included, default 1) and limit (default
// and cap MaxPage) from the query.
func ParsePage(r *http.Request) (Page, error) {
	p := Page{From: 1, Limit: MaxPage}
	q := r.URL.Query()
	if s := q.Get("from"); s != "" {
		from, err := strconv.ParseUint(s, 10, 64)
		if err != nil || from == 0 {
			return Page{}, Errorf(http.StatusBadRequest, "from must be an id >= 1, got %q", s)
		}
		p.From = from
	}
	if s := q.Get("limit"); s != "" {
		limit, err := strconv.Atoi(s)
		if err != nil || limit < 1 {
			return Page{}, Errorf(http.StatusBadRequest, "limit must be an integer >= 1, got %q", s)
		}
		p.Limit = min(limit, MaxPage)
	}
	return p, nil
}

// AppendMessages encodes the GET /messages body without reflection: it is
// the same entry encoding the replication frames use.
func AppendMessages(dst []byte, entries []frame.Entry) []byte {
	dst = append(dst, `{"messages":[`...)
	for i, e := range entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = frame.AppendEntry(dst, e)
	}
	return append(dst, "]}\n"...)
}
