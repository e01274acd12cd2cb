package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/guard"
	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/outputs"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/snapshot"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/stepflags"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
)

// plan is everything run checked before its first side effect.
type plan struct {
	policy  guard.Policy
	snap    snapshot.Options
	command []string
}

func run(c *cli.Context, command []string, sawSeparator bool) error {
	log := stepcli.Logger(c.App.ErrWriter, c.Bool("verbose")).With("step", "guard", "pipeline", c.String("pipeline"))
	p, err := check(c, command, sawSeparator, log)
	if err != nil {
		return err
	}
	out := outputs.Writer{Dir: c.String("outputs-dir"), Stdout: c.App.Writer}
	values := outputs.Values{"restore-point": "", "restored": false, "exit-code": ""}
	// Written first so a failed or interrupted run still yields values.
	if err := out.Files(values); err != nil {
		return err
	}
	st, err := storeurl.Open(c.Context, c.String("store"), storeurl.Options{CreateBucket: c.Bool("create-bucket")})
	if err != nil {
		return err
	}
	var kc *kanister.Client
	if len(p.snap.Actions) > 0 {
		k, err := stepflags.Kanister(c, "mlstate-guard/"+stepcli.Version)
		if err != nil {
			return err
		}
		k.Logger = log
		kc = k
		p.snap.Kanister, p.snap.KanisterNamespace = k, k.Namespace
	}
	rec, err := snapshot.Take(c.Context, st, p.snap)
	if err != nil {
		return fmt.Errorf("snapshot before %s: %w; the command was not run", p.command[0], err)
	}
	values["restore-point"] = rec.ID
	if err := out.Files(values); err != nil {
		return err
	}
	if err := c.Context.Err(); err != nil {
		// A signal between the snapshot and the start had no command to go to.
		_ = out.Emit(values)
		return exitcode.With(exitcode.Cancelled, fmt.Errorf("interrupted after restore point %s was taken, before %s started; nothing ran, so nothing was restored", rec.ID, p.command[0]))
	}
	log.Info("snapshot taken, running the command", "restorePoint", rec.ID, "command", p.command[0])

	res, err := guard.Run(guard.Command{
		Args: p.command, Stdin: c.App.Reader, Stdout: c.App.Writer, Stderr: c.App.ErrWriter,
		OnSignal: func(s os.Signal) { log.Info("forwarded a signal to the command", "signal", s.String()) },
	})
	if err != nil {
		values["exit-code"] = guard.CodeCannotStart
		_ = out.Emit(values)
		return exitcode.With(guard.CodeCannotStart, fmt.Errorf("%w; restore point %s was taken, but nothing ran, so nothing was restored", err, rec.ID))
	}
	values["exit-code"] = res.Code
	if res.Code == 0 {
		log.Info("the command succeeded; nothing to restore", "restorePoint", rec.ID)
		return out.Emit(values)
	}
	what := fmt.Sprintf("%s %s", p.command[0], res.Describe())
	if !p.policy.Restores(res.Code) {
		if err := out.Emit(values); err != nil {
			return err
		}
		return exitcode.With(res.Code, fmt.Errorf("%s; --restore-on %q does not cover it, so restore point %s was not restored", what, p.policy, rec.ID))
	}
	log.Info("the command failed; restoring", "restorePoint", rec.ID, "exitCode", res.Code)
	rr, rerr := restore(c, st, rec, kc, log)
	if rerr != nil {
		_ = out.Emit(values)
		return exitcode.With(exitcode.RestoreAfterFailure, fmt.Errorf(
			"%s, and restoring restore point %s failed: %w; the state is as the command left it. Restore by hand with: restore --store %s --pipeline %s --restore-point %s",
			what, rec.ID, rerr, st, rec.Pipeline, rec.ID))
	}
	values["restored"] = true
	if err := out.Emit(values); err != nil {
		return err
	}
	return exitcode.With(res.Code, fmt.Errorf("%s; restored restore point %s (%s)", what, rec.ID, summary(rr)))
}

// restore brings the snapshot back. Its context survives the signal that
// stopped the command (that one cancelled the step's context), so Argo's
// SIGTERM still gets the state restored within the grace period; a second
// SIGTERM or SIGINT abandons it.
func restore(c *cli.Context, st store.Store, rec *restorepoint.Record, kc *kanister.Client, log *slog.Logger) (*snapshot.RestoreResult, error) {
	ctx, stop := signal.NotifyContext(context.WithoutCancel(c.Context), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts := snapshot.RestoreOptions{Action: c.String("restore-action"), Workflow: stepflags.WorkflowOf(c), Logger: log}
	if kc != nil {
		opts.Kanister = kc
	}
	res, err := snapshot.Restore(ctx, st, rec, opts)
	if err != nil && ctx.Err() != nil {
		return res, fmt.Errorf("interrupted by a second signal: %w", err)
	}
	return res, err
}

func summary(r *snapshot.RestoreResult) string {
	var parts []string
	if r.ActionSet != "" {
		parts = append(parts, "Kanister ActionSet "+r.ActionSet)
	}
	if len(r.Paths) > 0 {
		parts = append(parts, fmt.Sprintf("%s: %d files, %d bytes downloaded", strings.Join(r.Paths, ", "), r.Files, r.BytesDownloaded))
	}
	if len(parts) == 0 {
		return "nothing to bring back"
	}
	return strings.Join(parts, "; ")
}

// check validates every input and reports all problems at once, before the
// snapshot; a command that cannot start is found here too, so no snapshot
// is taken for nothing.
func check(c *cli.Context, command []string, sawSeparator bool, log *slog.Logger) (plan, error) {
	var problems []error
	switch {
	case !sawSeparator && c.NArg() > 0:
		problems = append(problems, fmt.Errorf(`no "--" before the command %q: guard [flags] -- COMMAND [ARGS...]`, c.Args().First()))
	case !sawSeparator:
		problems = append(problems, errors.New(`no "--" before the command: guard [flags] -- COMMAND [ARGS...]`))
	case c.NArg() > 0:
		problems = append(problems, fmt.Errorf("unexpected argument %q before \"--\": guard's flags come before it, the command after it", c.Args().First()))
	case len(command) == 0:
		problems = append(problems, errors.New(`no command after "--": guard [flags] -- COMMAND [ARGS...]`))
	}
	policy, err := guard.ParsePolicy(c.String("restore-on"))
	if err != nil {
		problems = append(problems, err)
	}
	snap, more := stepflags.SnapshotOptions(c, log)
	problems = append(problems, more...)
	if len(problems) > 0 {
		return plan{}, exitcode.With(exitcode.Usage, errors.Join(problems...))
	}
	if _, err := guard.Resolve(command); err != nil {
		return plan{}, exitcode.With(guard.CodeCannotStart, fmt.Errorf("%w; nothing was snapshotted", err))
	}
	return plan{policy: policy, command: command, snap: snap}, nil
}
