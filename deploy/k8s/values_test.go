package k8s

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

var valueKey = regexp.MustCompile(`^(\s*)([A-Za-z][A-Za-z0-9]*):(.*)$`)

// TestEveryValueIsDocumented: in the chart's values.yaml, every value
// has a comment above it that starts with "# --" (helm-docs' mark),
// except the maps that only group values (image:, masters:) and what
// lies inside a documented map (podSecurityContext's fields).
func TestEveryValueIsDocumented(t *testing.T) {
	f, err := os.Open(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type open struct {
		indent     int
		documented bool
	}
	var stack []open // the enclosing keys
	commented, n := false, 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		m := valueKey.FindStringSubmatch(line)
		switch {
		case strings.HasPrefix(trimmed, "# --"):
			commented = true
			continue
		case strings.HasPrefix(trimmed, "#"):
			continue
		case m == nil:
			continue // a blank line, a list item
		}
		indent, key, rest := len(m[1]), m[2], strings.TrimSpace(m[3])
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		inDocumented := len(stack) > 0 && stack[len(stack)-1].documented
		group := rest == ""
		if !commented && !group && !inDocumented {
			t.Errorf("values.yaml: %s (%q) has no comment saying what it is", key, trimmed)
		}
		if group {
			stack = append(stack, open{indent, commented || inDocumented})
		}
		commented = false
		n++
	}
	if n < 20 {
		t.Fatalf("read %d values; is values.yaml there?", n)
	}
}
