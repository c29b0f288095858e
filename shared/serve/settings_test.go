package serve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// config is a binary's configuration as both binaries declare theirs:
// Settings embedded beside settings of its own.
type config struct {
	Settings
	Own string `envconfig:"OWN_SETTING"`
}

// writeFile writes body to a new file in the test's directory.
func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplicationTokenFile(t *testing.T) {
	tests := []struct {
		name      string
		token     string // REPLICATION_TOKEN
		file      string // the file's content; "-" for a file that does not exist
		want      string // the token loaded
		wantError string // a part of the error, which names the variable
	}{
		{name: "read as a secret is mounted", file: "s3cret\n", want: "s3cret"},
		{name: "without a newline", file: "s3cret", want: "s3cret"},
		{name: "written on Windows", file: "s3cret\r\n", want: "s3cret"},
		{name: "missing file", file: "-", wantError: "REPLICATION_TOKEN_FILE: open "},
		{name: "empty file", file: "\n", wantError: "REPLICATION_TOKEN_FILE: "},
		{name: "both given", token: "other", file: "s3cret\n", wantError: "REPLICATION_TOKEN_FILE: set together with REPLICATION_TOKEN"},
		{name: "only the variable", token: "plain", want: "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("REPLICATION_TOKEN", tt.token)
			t.Setenv("REPLICATION_TOKEN_FILE", "")
			switch tt.file {
			case "":
			case "-":
				t.Setenv("REPLICATION_TOKEN_FILE", filepath.Join(t.TempDir(), "absent"))
			default:
				t.Setenv("REPLICATION_TOKEN_FILE", writeFile(t, tt.file))
			}
			var c config
			err := LoadEnv(&c)
			if tt.wantError != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantError) {
					t.Fatalf("LoadEnv: %v, want an error starting %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ReplicationToken != tt.want {
				t.Fatalf("the token is %q, want %q", c.ReplicationToken, tt.want)
			}
		})
	}
}

// TestReplicationTokenFileIsValidated: a token read from a file is held
// to REPLICATION_TOKEN's rules, which a space inside would break.
func TestReplicationTokenFileIsValidated(t *testing.T) {
	t.Setenv("REPLICATION_TOKEN", "")
	t.Setenv("REPLICATION_TOKEN_FILE", writeFile(t, "two words\n"))
	var c config
	if err := LoadEnv(&c); err != nil {
		t.Fatal(err)
	}
	c.DefaultAddr(":8080")
	c.ReadHeaderTimeout, c.IdleTimeout = 1, 1
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "REPLICATION_TOKEN: ") {
		t.Fatalf("Validate: %v, want REPLICATION_TOKEN's error", err)
	}
}
