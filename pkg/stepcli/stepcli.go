// Package stepcli is the glue every step binary shares: the root context from
// signals, the logger, the version, and the one mapping from a returned error
// to a message on stderr and an exit code. Step packages build a *cli.App and
// hand it to Main; nothing below this package prints or exits.
package stepcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

// Version is stamped at build time with
// -ldflags "-X github.com/mlstate/mlstate/pkg/stepcli.Version=v1.2.3".
var Version = "dev"

// Main runs app with os.Args and exits with the code its error maps to.
func Main(app *cli.App) {
	os.Exit(Run(context.Background(), app, os.Args, os.Stderr))
}

// Run runs app under a context cancelled by SIGINT or SIGTERM and returns the
// exit code. A failure is reported as one line "NAME: message" on stderr;
// user errors never print a stack trace.
func Run(ctx context.Context, app *cli.App, args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	Prepare(app, stderr)
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitcode.OK
	}
	code := exitcode.Of(err)
	if code == exitcode.Cancelled && ctx.Err() != nil {
		fmt.Fprintf(stderr, "%s: interrupted: %v\n", app.Name, err)
		return code
	}
	fmt.Fprintf(stderr, "%s: %v\n", app.Name, err)
	return code
}

var versionFlagOnce sync.Once

// Prepare sets the fields every mlstate app shares. Run calls it; tests that
// drive an app directly may too.
func Prepare(app *cli.App, stderr io.Writer) {
	// -v is --verbose in every step (VerboseFlag); urfave/cli's default
	// --version flag also claims -v, which panics at flag parsing.
	versionFlagOnce.Do(func() {
		cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version and exit"}
	})
	app.Version = Version
	app.ErrWriter = stderr
	app.EnableBashCompletion = false
	app.HideHelpCommand = true
	// urfave/cli calls os.Exit for an ExitCoder unless this is set; Run maps
	// codes itself.
	app.ExitErrHandler = func(*cli.Context, error) {}
	app.OnUsageError = func(c *cli.Context, err error, _ bool) error {
		return exitcode.With(exitcode.Usage, fmt.Errorf("%w (see %s --help)", err, c.App.Name))
	}
	if app.Metadata == nil {
		app.Metadata = map[string]any{}
	}
}

// UsageError classifies a problem with the command line or its inputs.
func UsageError(format string, args ...any) error {
	return exitcode.With(exitcode.Usage, fmt.Errorf(format, args...))
}

// Logger returns the step's logger: JSON lines on stderr, so log collectors
// in a pod can parse them; stdout is kept for the step's result.
func Logger(stderr io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// ErrNoArgs is returned when a command that needs arguments got none.
var ErrNoArgs = errors.New("missing argument")

// ExitCodesHelp is the exit-code table for every step's help text; the
// codes themselves live in pkg/exitcode.
const ExitCodesHelp = `EXIT STATUS
   0    ok
   1    unexpected failure
   3    usage: invalid flags, arguments or input
   10   precondition not met (restore point or tree not found, nothing to restore)
   11   conflict (restore point of another pipeline)
   12   integrity: data does not match its digest, or is missing
   13   Kanister: an ActionSet failed or did not progress in time
   20   transient: store or API server unreachable or throttled; retry
   21   permission denied (credentials, RBAC)
   130  cancelled (SIGINT/SIGTERM)`
