// Package stage is the `stage` step: it pushes directories into the store as
// content-addressed trees and pulls them back, verified (see pkg/tree).
package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/outputs"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
	"github.com/mlstate/mlstate/pkg/tree"
)

// App is the stage command.
func App() *cli.App {
	app := &cli.App{
		Name:  "stage",
		Usage: "push directories into the store as content-addressed trees, and pull them back verified",
		Description: `A tree is an immutable snapshot of a directory: its manifest lists every
file, directory and symlink with mode and mtime, and names file content by the
SHA-256 of its chunks. The tree ID is the SHA-256 of the manifest. Pushes
upload only chunks the store lacks; pulls check every chunk and switch the
directory over only when all of it is verified.

STORE is s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT[&region=R][&ca=/ca.pem]
(https when the endpoint has no scheme) or file:///ABSOLUTE/PATH. S3
credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
AWS_SESSION_TOKEN, or the KEY=VALUE file named by MLSTATE_S3_CREDENTIALS_FILE.

TREE is a 64-digit tree ID, or name:NAME for the last tree pushed with --name NAME.
` + exitCodes,
		Commands: []*cli.Command{pushCommand(), pullCommand(), lsCommand(), diffCommand(), verifyCommand(), forgetCommand()},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = usageError
	}
	app.Before = func(*cli.Context) error {
		// Transfers allocate chunk buffers at a high rate; a soft limit makes
		// the GC keep the heap near what is live, well under the 256 MiB a
		// step is meant to fit in. GOMEMLIMIT still overrides it.
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(memoryLimit)
		}
		return nil
	}
	return app
}

// memoryLimit is the Go heap's soft limit for the stage step.
const memoryLimit = 160 << 20

// usageError classifies a bad flag of a subcommand (the app's own handler
// only sees the app's flags).
func usageError(c *cli.Context, err error, _ bool) error {
	return exitcode.With(exitcode.Usage, fmt.Errorf("%w (see stage %s --help)", err, c.Command.Name))
}

var exitCodes = fmt.Sprintf(`
EXIT STATUS
   %d    ok
   %d    unexpected failure
   %d    usage: bad flags or arguments, source missing or not a directory
   %d   precondition: tree, name or bucket not found
   %d   integrity: a chunk is missing or does not match its digest, or a manifest is invalid
   %d   transient: store unreachable, throttled or 5xx, a file kept changing during the push,
        or a prune ran during the push; worth a retry
   %d   permission denied by the store
   %d  interrupted`, exitcode.OK, exitcode.Failure, exitcode.Usage, exitcode.Precondition, exitcode.Integrity,
	exitcode.Transient, exitcode.Permission, exitcode.Cancelled)

func commonFlags() []cli.Flag {
	return []cli.Flag{
		stepcli.StoreFlag(),
		stepcli.CreateBucketFlag(),
		&cli.IntFlag{Name: "concurrency", Value: tree.DefaultConcurrency, Usage: "parallel file reads and chunk transfers", EnvVars: []string{"MLSTATE_CONCURRENCY"}},
		stepcli.VerboseFlag(),
	}
}

// env holds what every subcommand needs.
type env struct {
	ctx    context.Context
	st     store.Store
	log    *slog.Logger
	stderr io.Writer
	out    outputs.Writer
}

func setup(c *cli.Context) (*env, error) {
	e := &env{ctx: c.Context, stderr: c.App.ErrWriter, log: stepcli.Logger(c.App.ErrWriter, c.Bool("verbose"))}
	e.out = outputs.Writer{Dir: c.String("outputs-dir"), Stdout: c.App.Writer}
	if c.Int("concurrency") < 1 {
		return nil, stepcli.UsageError("--concurrency must be at least 1")
	}
	st, err := storeurl.Open(c.Context, c.String("store"), storeurl.Options{CreateBucket: c.Bool("create-bucket")})
	if err != nil {
		return nil, classify(fmt.Errorf("open store: %w", err))
	}
	e.st = st
	return e, nil
}

// resolveTree accepts a tree ID or name:NAME.
func resolveTree(ctx context.Context, st store.Store, s string) (tree.ID, error) {
	if name, ok := strings.CutPrefix(s, "name:"); ok {
		id, found, err := tree.LastByName(ctx, st, name)
		if err != nil {
			return id, classify(err)
		}
		if !found {
			return id, exitcode.With(exitcode.Precondition, fmt.Errorf("%w: nothing pushed under name %q in %s", tree.ErrTreeNotFound, name, st))
		}
		return id, nil
	}
	id, err := tree.ParseID(s)
	if err != nil {
		return id, exitcode.With(exitcode.Usage, err)
	}
	return id, nil
}

// classify maps library errors to exit codes; this is the only place stage
// decides them.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ec *exitcode.Error
	switch {
	case errors.As(err, &ec), errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, tree.ErrDigestMismatch), errors.Is(err, tree.ErrChunkMissing), errors.Is(err, tree.ErrInvalidManifest):
		return exitcode.With(exitcode.Integrity, err)
	case errors.Is(err, tree.ErrInvalidID), errors.Is(err, tree.ErrBadSource), errors.Is(err, tree.ErrInvalidName),
		errors.Is(err, storeurl.ErrNoStore), errors.Is(err, storeurl.ErrInvalid):
		return exitcode.With(exitcode.Usage, err)
	case errors.Is(err, tree.ErrFileChanged), errors.Is(err, tree.ErrConcurrentSweep), errors.Is(err, store.ErrTransient):
		return exitcode.With(exitcode.Transient, err)
	case errors.Is(err, store.ErrPermission):
		return exitcode.With(exitcode.Permission, err)
	case errors.Is(err, tree.ErrTreeNotFound), errors.Is(err, store.ErrNotFound):
		return exitcode.With(exitcode.Precondition, err)
	}
	return err
}

func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", stepcli.UsageError("%s takes exactly one argument, %s (got %d)", c.Command.Name, what, c.NArg())
	}
	return c.Args().First(), nil
}
