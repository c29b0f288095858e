package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"

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
		if err != nil || got != c.want {
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
