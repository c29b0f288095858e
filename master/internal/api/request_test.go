package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/replog/replog/shared/httpapi"
)

func TestParseAppend(t *testing.T) {
	lim := Limits{MaxMessageBytes: 10, ClusterSize: 3}
	ok := []struct {
		body string
		want AppendRequest
	}{
		{`{"message":"hi"}`, AppendRequest{Message: "hi", WriteConcern: 1}},
		{`{"writeConcern": 3, "message":"hi"}`, AppendRequest{Message: "hi", WriteConcern: 3}},
		{` { "message" : "\u00e9" } `, AppendRequest{Message: "é", WriteConcern: 1}},
	}
	for _, c := range ok {
		got, err := ParseAppend(strings.NewReader(c.body), lim)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseAppend(%s) = %+v, %v; want %+v", c.body, got, err, c.want)
		}
	}
	bad := map[string]int{
		``:                                     400,
		`null`:                                 400,
		`{"message":"hi","writeConcern":4}`:    400,
		`{"message":"hi","writeConcern":null}`: 400,
		`{"message":"hi","writeConcern":2e0}`:  400,
		`{"message":null}`:                     400,
		`{"message":"12345678901"}`:            413,
		`{"Message":"hi"}`:                     400,
	}
	for body, status := range bad {
		_, err := ParseAppend(strings.NewReader(body), lim)
		var he *httpapi.Error
		if !errors.As(err, &he) || he.Status != status {
			t.Errorf("ParseAppend(%s) = %v; want status %d", body, err, status)
		}
	}
	if _, err := ParseAppend(strings.NewReader(`{"message":"hi","writeConcern":99}`), Limits{MaxMessageBytes: 10}); err != nil {
		t.Errorf("without CLUSTER_SIZE any write concern is accepted: %v", err)
	}
	var he *httpapi.Error
	_, err := ParseAppend(strings.NewReader(`{"message":"hi"`), lim)
	if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
		t.Errorf("truncated body: %v", err)
	}
}

// TestParseFastAgreesWithGeneral: whatever the fast path accepts, the
// general path accepts with the same result.
func TestParseFastAgreesWithGeneral(t *testing.T) {
	lim := Limits{MaxMessageBytes: 20, ClusterSize: 3}
	bodies := []string{
		`{"message":"hi"}`, ` {"message" : "hi" , "writeConcern" : 3 , "timeoutMs" : 0 } `,
		`{"writeConcern":2,"message":"é ☃"}`, `{"message":"hi","writeConcern":4}`,
		`{"message":"hi","writeConcern":01}`, `{"message":"hi","timeoutMs":1e3}`,
		`{"message":"a\"b"}`, `{"message":""}`, `{"message":"hi"}x`, `{"message":"hi",}`,
		`{"message":"123456789012345678901"}`, `{"message":"hi","message":"ho"}`, `{}`,
		`{"message":"hi","writeConcern":1000000000}`, `{"message":"\u00e9"}`, "{\"message\":\"\xff\"}",
	}
	// Plain bodies, the common case, must take the fast path.
	plain := map[string]AppendRequest{
		`{"message":"hi"}`: {Message: "hi", WriteConcern: 1},
		` {"message" : "hi" , "writeConcern" : 3 , "timeoutMs" : 0 } `: {Message: "hi", WriteConcern: 3, TimeoutSet: true},
		`{"writeConcern":2,"message":"é ☃"}`:                           {Message: "é ☃", WriteConcern: 2},
		`{"message":"hi","timeoutMs":250}`:                             {Message: "hi", WriteConcern: 1, Timeout: 250 * time.Millisecond, TimeoutSet: true},
	}
	for body, want := range plain {
		if fast, ok := parseFast([]byte(body), lim); !ok || !reflect.DeepEqual(fast, want) {
			t.Errorf("%s: fast path %+v (taken %v), want %+v", body, fast, ok, want)
		}
	}
	for _, body := range bodies {
		fast, ok := parseFast([]byte(body), lim)
		general, err := parseGeneral(strings.NewReader(body), lim)
		if ok && (err != nil || !reflect.DeepEqual(fast, general)) {
			t.Errorf("%s: fast %+v, general %+v %v", body, fast, general, err)
		}
	}
}

// FuzzParseAppend: the fast and general parsers agree on every body the
// fast one takes; and every request (one message or a batch) the general
// one accepts, written back as JSON, parses to itself.
func FuzzParseAppend(f *testing.F) {
	f.Add(`{"message":"hi","writeConcern":2,"timeoutMs":10}`)
	f.Add(`{"message":"a\u0000b"}`)
	f.Add(`{"messages":["a","b\n"],"writeConcern":"majority","timeoutMs":0}`)
	f.Add(`{"messages":[]}`)
	f.Fuzz(func(t *testing.T, body string) {
		lim := Limits{MaxMessageBytes: 64, ClusterSize: 5, MaxBatchMessages: 8}
		fast, ok := parseFast([]byte(body), lim)
		general, err := parseGeneral(strings.NewReader(body), lim)
		if ok && (err != nil || !reflect.DeepEqual(fast, general)) {
			t.Fatalf("%q: fast %+v, general %+v %v", body, fast, general, err)
		}
		if err != nil {
			return
		}
		fields := map[string]any{"writeConcern": general.WriteConcern}
		if general.Messages != nil {
			fields["messages"] = general.Messages
		} else {
			fields["message"] = general.Message
		}
		if general.TimeoutSet {
			fields["timeoutMs"] = general.Timeout.Milliseconds()
		}
		b, _ := json.Marshal(fields)
		again, err := parseGeneral(bytes.NewReader(b), lim)
		if err != nil || !reflect.DeepEqual(again, general) {
			t.Fatalf("%q parsed to %+v; written back as %s it parses to %+v %v", body, general, b, again, err)
		}
	})
}
