package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestDurationsReadAsSettings: a duration field reads as it would be
// written in a setting ("1m30s"), in both formats, not as a bare number.
func TestDurationsReadAsSettings(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := NewTo(&buf, "n1", "info", format)
			if err != nil {
				t.Fatal(err)
			}
			log.Info("hello", zap.Duration("grace", 90*time.Second))
			if format == "console" {
				if !strings.Contains(buf.String(), `"grace": "1m30s"`) {
					t.Fatalf("want grace 1m30s in %s", buf.String())
				}
				return
			}
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			if line["grace"] != "1m30s" || line["node"] != "n1" || line["msg"] != "hello" {
				t.Fatalf("line %v", line)
			}
		})
	}
}

func TestBadSettingsNameTheVariable(t *testing.T) {
	for _, c := range []struct{ level, format, want string }{
		{"loud", "json", "LOG_LEVEL"},
		{"info", "xml", "LOG_FORMAT"},
	} {
		if _, err := NewTo(&bytes.Buffer{}, "n", c.level, c.format); err == nil || !strings.HasPrefix(err.Error(), c.want+": ") {
			t.Errorf("%s/%s: %v, want an error naming %s", c.level, c.format, err, c.want)
		}
	}
}
