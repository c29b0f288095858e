package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/replog/replog/shared/logging"
)

// Config is what Main needs of a binary's configuration: every one
// embeds Settings, which provides it.
type Config interface{ Node() Node }

// Node is a configuration's name, HTTP_ADDR, LOG_LEVEL, LOG_FORMAT,
// TLS_CERT_FILE and REPLICATION_TOKEN.
type Node struct{ Name, Addr, LogLevel, LogFormat, TLSCert, Token string }

// Binary says what a replog binary is, for its help and its errors.
type Binary struct {
	Name  string // "master", "secondary": the command, and the prefix of its errors
	About string // what it does, for its help
	// Defaults are the defaults the binary sets itself, for its help.
	Defaults map[string]string
	// Commands are the binary's own subcommands, beside help, version
	// and health.
	Commands []Command
}

// Command is a subcommand of one binary (the master's step-down, run
// by a pod's preStop hook): it runs with the binary's settings, as
// health does, and returns the exit status.
type Command struct {
	Name  string
	About string // one line for the help
	Run   func(node Node, stdout, stderr io.Writer) int
}

// usage is the binary's subcommands, as the usage line lists them.
func (b Binary) usage() string {
	names := []string{"help", "version", "health"}
	for _, c := range b.Commands {
		names = append(names, c.Name)
	}
	return strings.Join(names, " | ")
}

// Main runs a replog binary the same way for both (see Exec) and exits
// with Exec's status.
func Main[C Config](b Binary, load func() (C, error), run func(ctx context.Context, cfg C, log *zap.Logger) error) {
	os.Exit(Exec(b, os.Args[1:], os.Stdout, os.Stderr, load, run))
}

// SettingError is a bad setting that only the node's start could find
// (another node's answer, say): Exec exits 2 with its one line, which
// names the variable, as for a setting that does not parse.
type SettingError struct{ Err error }

func (e *SettingError) Error() string { return e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

// Exit statuses of Exec.
const (
	ExitOK     = 0
	ExitFailed = 1 // the node ran and failed, or a health probe failed
	ExitUsage  = 2 // a bad argument or setting; the line on stderr says which
)

// Exec runs a replog binary with its arguments and returns the exit
// status. With no argument the node runs until SIGINT or SIGTERM: 0 when
// it stops, 1 when it fails, 2 with one line naming the variable for a
// bad configuration. "help" (or -h, --help) lists every variable;
// "version" (or --version) prints the build; "health" probes the running
// node's /health (for images without a shell). Anything else is a
// one-line usage on stderr and status 2, never a server started by
// mistake.
//
// load reads the configuration from the environment; run runs the node
// until ctx is done.
func Exec[C Config](b Binary, args []string, stdout, stderr io.Writer,
	load func() (C, error), run func(ctx context.Context, cfg C, log *zap.Logger) error) int {
	if len(args) == 0 {
		return runNode(b, stderr, load, run)
	}
	if len(args) == 1 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			var spec C
			return writeHelp(stdout, b, &spec)
		case "version", "-version", "--version":
			writeVersion(stdout, b.Name)
			return ExitOK
		case "health":
			return health(b, stderr, load)
		}
		for _, c := range b.Commands {
			if c.Name == args[0] {
				return command(b, c, stdout, stderr, load)
			}
		}
	}
	fmt.Fprintf(stderr, "usage: %s [%s] (settings are environment variables: %s help lists them)\n", b.Name, b.usage(), b.Name)
	return ExitUsage
}

func runNode[C Config](b Binary, stderr io.Writer, load func() (C, error), run func(ctx context.Context, cfg C, log *zap.Logger) error) int {
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", b.Name, err)
		return ExitUsage
	}
	node := cfg.Node()
	log, err := logging.NewTo(stderr, node.Name, node.LogLevel, node.LogFormat)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", b.Name, err)
		return ExitUsage
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg, log)
	stop()
	var bad *SettingError
	if errors.As(err, &bad) {
		fmt.Fprintf(stderr, "%s: %v\n", b.Name, bad.Err)
		return ExitUsage
	}
	if err != nil {
		// The error says what failed; a stack of main would not.
		log.WithOptions(zap.AddStacktrace(zapcore.FatalLevel)).Error(b.Name+" stopped", zap.Error(err))
		return ExitFailed
	}
	return ExitOK
}

func health[C Config](b Binary, stderr io.Writer, load func() (C, error)) int {
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", b.Name, err)
		return ExitUsage
	}
	if err := Probe(cfg.Node()); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", b.Name, err)
		return ExitFailed
	}
	return ExitOK
}

// command runs one of the binary's own subcommands with its settings.
func command[C Config](b Binary, c Command, stdout, stderr io.Writer, load func() (C, error)) int {
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", b.Name, err)
		return ExitUsage
	}
	return c.Run(cfg.Node(), stdout, stderr)
}

func writeHelp(w io.Writer, b Binary, spec any) int {
	fmt.Fprintf(w, `replog %s: %s

Usage: %[1]s [%[3]s]
  (none)    run the node until SIGINT or SIGTERM
  health    probe the running node's /health: exit 0 when it answers
  help      this text
  version   the version and build
`, b.Name, b.About, b.usage())
	for _, c := range b.Commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.Name, c.About)
	}
	fmt.Fprint(w, `
Exit status: 0 stopped cleanly, 1 failed while running, 2 a bad argument or
setting (one line on stderr names the variable).

Settings are environment variables only:

`)
	if err := WriteVariables(w, spec, b.Defaults); err != nil {
		panic(err) // a struct tag the code owns is wrong
	}
	return ExitOK
}

// writeVersion prints the module version and, when the build recorded
// them, the commit it was built from and whether the tree had changes.
func writeVersion(w io.Writer, name string) {
	version, commit := "unknown", "unknown (built without version control information)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		commit = vcs(bi.Settings)
	}
	fmt.Fprintf(w, "replog %s %s\ncommit %s\n%s %s/%s\n", name, version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func vcs(settings []debug.BuildSetting) string {
	var revision, when string
	modified := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision == "" {
		return "unknown (built without version control information)"
	}
	parts := []string{revision}
	if when != "" {
		parts = append(parts, "of "+when)
	}
	if modified {
		parts = append(parts, "with uncommitted changes")
	}
	return strings.Join(parts, ", ")
}
