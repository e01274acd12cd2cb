// Package guard is the command line of the guard step: snapshot, run a
// command, and restore the snapshot when the command fails, in one step.
package guard

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/guard"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/stepflags"
)

const usageText = `guard --store URL --pipeline NAME [--stage DIR]... [--object KIND/NS/NAME --blueprint BP] [--restore-on POLICY] -- COMMAND [ARGS...]
   guard install PATH

Takes a snapshot (the snapshot step's flags), runs COMMAND with its output
streamed, stdin passed on and SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2
forwarded, and when COMMAND fails as --restore-on says, restores the snapshot
(staged directories become exactly what was snapshotted; Kanister runs the
Blueprint's restore action). guard then exits with COMMAND's status (128+N when
signal N killed it). The "--" before COMMAND is required.

--restore-on: comma-separated terms, left to right: nonzero|any (1-255, the
default), never, N, N-M, a signal name (SIGTERM = 143), and !TERM to remove one.
Only removals start from nonzero: "!3" restores after every failure but 3.

A SIGTERM (Argo stopping the pod) goes to COMMAND; if it then exits 143, that
is a failure like any other and guard restores before exiting 143. Give the pod
a terminationGracePeriodSeconds long enough for the restore: Kubernetes kills
it 30 s after SIGTERM by default. A second SIGTERM or SIGINT during the restore
abandons it (exit 70).

"guard install PATH" copies the guard binary to PATH (for an init container
that shares it through an emptyDir with an image that has no shell).

Outputs (files in --outputs-dir, and one JSON line on stdout after COMMAND's
own output): restore-point, restored (true/false), exit-code.`

var exitCodes = `EXIT STATUS
   COMMAND's own status (0 when it succeeded; 128+N when killed by signal N)
   3    usage: no "--" or no COMMAND, invalid flags
   70   COMMAND failed and the restore failed too; the message names the
        restore point to restore by hand with the restore step
   127  COMMAND cannot be started (not found, not executable); nothing was snapshotted
   and, when the snapshot itself fails (COMMAND is then not run):
` + strings.TrimPrefix(stepcli.ExitCodesHelp, "EXIT STATUS\n")

// App returns the guard step's command line.
//
// The flags are parsed from the arguments before "--" only, so COMMAND's own
// flags are never taken for guard's, and a missing "--" is caught rather
// than guessed at. The outer App therefore skips flag parsing and hands the
// part before "--" to an inner App with the same flags.
func App() *cli.App {
	return &cli.App{
		Name:            "guard",
		Usage:           "snapshot, run a command, and restore the snapshot if the command fails",
		UsageText:       usageText,
		Description:     exitCodes,
		Flags:           flags(),
		SkipFlagParsing: true,
		HideHelp:        true,
		Action:          split,
	}
}

func flags() []cli.Flag {
	fl := []cli.Flag{
		stepcli.StoreFlag(), stepcli.CreateBucketFlag(), stepcli.PipelineFlag(), stepcli.OutputsDirFlag(), stepcli.VerboseFlag(),
		&cli.StringFlag{Name: "restore-on", Value: guard.DefaultPolicy, Usage: "exit statuses that trigger a restore, e.g. nonzero, \"1-255,!3\", \"1,SIGTERM\", never", EnvVars: []string{"MLSTATE_RESTORE_ON"}},
		&cli.StringFlag{Name: "restore-action", Value: "restore", Usage: "Blueprint action run with the snapshot's artifacts to restore", EnvVars: []string{"MLSTATE_RESTORE_ACTION"}},
	}
	fl = append(fl, stepflags.Targets()...)
	fl = append(fl, stepflags.Cluster()...)
	return append(fl, stepflags.Workflow()...)
}

// split separates guard's arguments from COMMAND at the first "--" and runs
// the inner App on guard's part.
func split(c *cli.Context) error {
	args := c.Args().Slice()
	i := slices.Index(args, "--")
	var command []string
	if i >= 0 {
		args, command = args[:i], args[i+1:]
	}
	inner := &cli.App{
		Name: c.App.Name, Usage: c.App.Usage, UsageText: usageText, Description: exitCodes,
		Flags:  flags(),
		Action: func(c *cli.Context) error { return run(c, command, i >= 0) },
		Commands: []*cli.Command{{
			Name: "install", Usage: "copy the guard binary to PATH (e.g. an emptyDir shared with the training container)",
			ArgsUsage: "PATH", Action: install,
		}},
	}
	stepcli.Prepare(inner, c.App.ErrWriter)
	inner.Writer = c.App.Writer
	inner.Reader = c.App.Reader
	return inner.RunContext(c.Context, append([]string{c.App.Name}, args...))
}
