// Package servetest checks a replog binary's command line and settings
// the same way for both binaries: in the process, through serve.Exec.
package servetest

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/replog/replog/shared/serve"
)

// Exec runs b's command line in the process with only env set of the
// variables C reads; a configuration that loads fails the test instead of
// starting a node.
func Exec[C serve.Config](t testing.TB, b serve.Binary, load func() (C, error), env []string, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var spec C
	for name := range serve.Variables(&spec) {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	var out, errOut bytes.Buffer
	status = serve.Exec(b, args, &out, &errOut, load, func(context.Context, C, *zap.Logger) error {
		t.Errorf("the node started with %v", env)
		return nil
	})
	return status, out.String(), errOut.String()
}

// CheckHelp fails t unless help (the output of `help`) lists every one of
// variables with its meaning, and each has a desc tag.
func CheckHelp(t testing.TB, help string, variables map[string]string) {
	t.Helper()
	for name, desc := range variables {
		if desc == "" {
			t.Errorf("%s has no desc tag", name)
		}
		if !regexp.MustCompile(`\n  ` + name + `( \(default [^)]+\))?\n        \S`).MatchString(help) {
			t.Errorf("%s is not listed with its meaning:\n%s", name, help)
		}
	}
}

// CheckDocs fails t unless README's Configuration table lists, as
// binary's or both binaries', exactly variables, and .env.example exactly
// the variables of README's table. root is the repository's root.
func CheckDocs(t testing.TB, root, binary string, variables map[string]string) {
	t.Helper()
	readme, all := readmeVariables(t, filepath.Join(root, "README.md"), binary)
	if want := slices.Sorted(maps.Keys(variables)); !slices.Equal(readme, want) {
		t.Errorf("README's Configuration table, %s or both:\n%v\nthe %s's configuration:\n%v", binary, readme, binary, want)
	}
	env, err := os.ReadFile(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	var example []string
	for _, m := range regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]*)=`).FindAllStringSubmatch(string(env), -1) {
		example = append(example, m[1])
	}
	slices.Sort(example)
	if !slices.Equal(example, all) {
		t.Errorf(".env.example:\n%v\nREADME's Configuration table:\n%v", example, all)
	}
}

// readmeVariables reads README's Configuration table: the variables of
// binary (its own and both's), and all of them, each sorted.
func readmeVariables(t testing.TB, path, binary string) (of, all []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for line := range strings.Lines(section) {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		for _, m := range regexp.MustCompile("`([A-Z][A-Z0-9_]*)`").FindAllStringSubmatch(cells[1], -1) {
			all = append(all, m[1])
			if who := strings.TrimSpace(cells[2]); who == binary || who == "both" {
				of = append(of, m[1])
			}
		}
	}
	slices.Sort(of)
	slices.Sort(all)
	return of, all
}
