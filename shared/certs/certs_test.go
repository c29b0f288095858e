package certs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/replog/replog/shared/certs/certstest"
	"github.com/replog/replog/shared/poll"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func files(l certstest.Leaf) Files {
	return Files{Cert: l.Cert, Key: l.Key, CertVar: "TLS_CERT_FILE", KeyVar: "TLS_KEY_FILE"}
}

// TestLoadNamesTheVariable: each bad pair is refused with the variable
// to fix in the error.
func TestLoadNamesTheVariable(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, dir, "test")
	good := ca.Valid("node")
	other := ca.Valid("other")
	expired := ca.Issue("old", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	garbage := dir + "/garbage.pem"
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		files Files
		want  string
	}{
		{"only the cert", Files{Cert: good.Cert, CertVar: "TLS_CERT_FILE", KeyVar: "TLS_KEY_FILE"}, "TLS_KEY_FILE: must be set"},
		{"only the key", Files{Key: good.Key, CertVar: "TLS_CERT_FILE", KeyVar: "TLS_KEY_FILE"}, "TLS_CERT_FILE: must be set"},
		{"missing cert", files(certstest.Leaf{Cert: dir + "/none.pem", Key: good.Key}), "TLS_CERT_FILE: open"},
		{"missing key", files(certstest.Leaf{Cert: good.Cert, Key: dir + "/none.pem"}), "TLS_KEY_FILE: open"},
		{"not a certificate", files(certstest.Leaf{Cert: garbage, Key: good.Key}), "TLS_CERT_FILE: no PEM certificate"},
		{"mismatched", files(certstest.Leaf{Cert: good.Cert, Key: other.Key}), "TLS_KEY_FILE: " + other.Key + " does not hold the key"},
		{"expired", files(expired), "TLS_CERT_FILE: the certificate in " + expired.Cert + " expired"},
	}
	for _, c := range cases {
		_, err := c.files.Load(time.Now())
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error starting %q", c.name, err, c.want)
		}
	}
	if _, err := files(good).Load(time.Now()); err != nil {
		t.Fatalf("a good pair: %v", err)
	}
	if _, err := Pool(garbage, "MASTER_CA_FILE"); err == nil || !strings.HasPrefix(err.Error(), "MASTER_CA_FILE: no PEM") {
		t.Fatalf("a CA file without certificates: %v", err)
	}
}

// TestReloaderPicksUpRotation: a pair rewritten in place is served after
// the next look; one made bad leaves the good one in use; SIGHUP reloads
// at once.
func TestReloaderPicksUpRotation(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, dir, "test")
	first := ca.Valid("node")
	r, err := NewReloader(files(first), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.Watch(ctx, 20*time.Millisecond) })
	defer wg.Wait()
	defer cancel()

	serving := func(want string) {
		t.Helper()
		poll.Check(t, 5*time.Second, func() error {
			if got := r.Leaf().SerialNumber.String(); got != want {
				return fmt.Errorf("serving serial %s, want %s", got, want)
			}
			return nil
		})
	}
	second := ca.Valid("node") // same files, new pair
	serving(second.Serial.String())

	if err := os.WriteFile(second.Key, []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload("test"); err == nil {
		t.Fatal("a broken key was loaded")
	}
	if r.Leaf().SerialNumber.Cmp(second.Serial) != 0 {
		t.Fatal("a failed reload replaced the pair in use")
	}

	// SIGHUP: the watch's look every hour would never see it.
	cancel()
	wg.Wait()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	// The test listens too, so that a SIGHUP sent before Watch listens
	// does not end the process.
	guard := make(chan os.Signal, 16)
	signal.Notify(guard, syscall.SIGHUP)
	defer signal.Stop(guard)
	third := ca.Valid("node")
	r.stamp = r.statStamp() // as if the watch had seen these files already
	wg.Go(func() { r.Watch(ctx, time.Hour) })
	poll.Check(t, 5*time.Second, func() error {
		if r.Leaf().SerialNumber.Cmp(third.Serial) == 0 {
			return nil
		}
		// Repeated: the first may come before Watch listens for it.
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			return err
		}
		return errors.New("SIGHUP did not reload the pair")
	})
}
