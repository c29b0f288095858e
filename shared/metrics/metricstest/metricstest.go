// Package metricstest reads a node's GET /metrics the way Prometheus
// does, over HTTP in the text format, for tests that check a metric
// moves as it should.
package metricstest

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// scraper keeps no idle connection behind for a leak check to find.
var scraper = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// Scrape returns the text of GET url (a /metrics route).
func Scrape(t testing.TB, url string) string {
	t.Helper()
	resp, err := scraper.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d, %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// Value is the value of the sample of series name (for a histogram,
// name_count or name_bucket) whose labels include every one of labels,
// each written as in the exposition (`kind="page"`). ok is false when
// there is none.
func Value(text, name string, labels ...string) (v float64, ok bool) {
	for _, line := range strings.Split(text, "\n") {
		series, value, found := cutSample(line)
		if !found || metricName(series) != name || !hasLabels(series, labels) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		return v, err == nil
	}
	return 0, false
}

// MustValue is Value, failing the test when the series is absent.
func MustValue(t testing.TB, text, name string, labels ...string) float64 {
	t.Helper()
	v, ok := Value(text, name, labels...)
	if !ok {
		t.Fatalf("no series %s%v in the metrics:\n%s", name, labels, text)
	}
	return v
}

// Edges returns every histogram bucket edge (le label) in text but +Inf,
// as written.
func Edges(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		series, _, found := cutSample(line)
		if !found {
			continue
		}
		_, rest, found := strings.Cut(series, `le="`)
		if !found {
			continue
		}
		le, _, _ := strings.Cut(rest, `"`)
		if le != "+Inf" {
			out = append(out, le)
		}
	}
	return out
}

// SignificantDigits counts the significant digits of a decimal as
// written: "0.00025" has 2, "29.99999999999997" has 16.
func SignificantDigits(s string) int {
	mantissa, _, _ := strings.Cut(strings.ToLower(s), "e")
	digits := strings.TrimLeft(strings.ReplaceAll(strings.TrimLeft(mantissa, "+-"), ".", ""), "0")
	if strings.Contains(mantissa, ".") {
		return len(digits)
	}
	return len(strings.TrimRight(digits, "0")) // "5000": 1
}

// RoundEdges fails the test for each bucket edge in text written with
// more than digits significant digits, and when there is no edge at all.
func RoundEdges(t testing.TB, text string, digits int) {
	t.Helper()
	edges := Edges(text)
	if len(edges) == 0 {
		t.Fatal("no histogram bucket in the metrics")
	}
	for _, le := range edges {
		if SignificantDigits(le) > digits {
			t.Errorf("bucket edge le=%q has more than %d significant digits", le, digits)
		}
	}
}

// cutSample splits a sample line into its series (name and labels) and
// value; comments and blank lines have none.
func cutSample(line string) (series, value string, ok bool) {
	if line == "" || strings.HasPrefix(line, "#") {
		return "", "", false
	}
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return "", "", false
	}
	return line[:i], line[i+1:], true
}

func metricName(series string) string {
	name, _, _ := strings.Cut(series, "{")
	return name
}

func hasLabels(series string, labels []string) bool {
	_, set, _ := strings.Cut(series, "{")
	set = "," + strings.TrimSuffix(set, "}") + ","
	for _, l := range labels {
		if !strings.Contains(set, ","+l+",") {
			return false
		}
	}
	return true
}
