package follow

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestFollowNeedsOnlyShared: the master binary is to run this follower as
// a standby, so the follower and its tests build from the shared module
// alone (GOWORK=off: an import from secondary/ or master/ fails to
// resolve), and import nothing of this project outside shared/.
func TestFollowNeedsOnlyShared(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		t.Skipf("SKIPPED: no go command at %s to list the follower's imports: %v", goTool, err)
	}
	cmd := exec.Command(goTool, "list", "-deps", "-test", ".", "./apply")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list, with the shared module alone: %v\n%s", err, out)
	}
	const project, shared = "github.com/replog/replog/", "github.com/replog/replog/shared"
	for pkg := range strings.Lines(string(out)) {
		pkg = strings.TrimSpace(pkg)
		if strings.HasPrefix(pkg, project) && !strings.HasPrefix(pkg, shared) {
			t.Errorf("the follower imports %s, outside shared/", pkg)
		}
	}
}
