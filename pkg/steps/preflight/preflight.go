// Package preflight is the command line of the preflight step: check every
// link a snapshot and a restore rely on before training starts, and name
// each broken one with what to do.
package preflight

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/kubeconfig"
	"github.com/mlstate/mlstate/pkg/outputs"
	"github.com/mlstate/mlstate/pkg/preflight"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/stepflags"
)

const exitStatus = `EXIT STATUS
   0    nothing broken (warnings allowed unless --fail-on-warning)
   3    usage: invalid flags
   10   at least one check is broken
   15   --fail-on-warning: warnings, nothing broken
   130  cancelled (SIGINT/SIGTERM); scratch objects are still removed`

// App returns the preflight step's command line. It takes the snapshot
// step's target and cluster flags, so a template passes both the same
// values. The Kanister wait timeouts among the cluster flags are accepted
// and unused.
func App() *cli.App {
	flags := []cli.Flag{stepcli.StoreFlag(), stepcli.PipelineFlag(), stepcli.OutputsDirFlag(), stepcli.VerboseFlag(),
		&cli.StringFlag{Name: "restore-action", Value: "restore", Usage: "Blueprint action restore runs (checked to exist and to read only the backup's artifacts)", EnvVars: []string{"MLSTATE_RESTORE_ACTION"}},
		&cli.StringFlag{Name: "delete-action", Value: "delete", Usage: "Blueprint action that deletes a backup (checked like the restore action)", EnvVars: []string{"MLSTATE_DELETE_ACTION"}},
		&cli.DurationFlag{Name: "check-timeout", Value: preflight.DefaultTimeout, Usage: "time limit of each check (the restore-point verification reads every chunk)", EnvVars: []string{"MLSTATE_CHECK_TIMEOUT"}},
		&cli.BoolFlag{Name: "fail-on-warning", Usage: "exit 15 when a check warns and none is broken", EnvVars: []string{"MLSTATE_FAIL_ON_WARNING"}},
	}
	flags = append(flags, stepflags.Targets()...)
	flags = append(flags, stepflags.Cluster()...)
	return &cli.App{
		Name:  "preflight",
		Usage: "check the whole setup (cluster, Kanister, Profile bucket, store, RBAC, staged paths) before training",
		UsageText: "preflight --store URL --pipeline NAME [--object KIND/NS/NAME --blueprint BP --profile NS/NAME [--secret REF=NS/NAME]...] [--stage DIR]...\n\n" +
			"Prints a checklist on stderr (a table on a terminal), one JSON line {\"ok\",\"status\",\"checks\"} on stdout,\n" +
			"and output files ok (true/false), status (ok/warning/broken) and checks (JSON) in --outputs-dir.\n" +
			"Changes nothing and creates no ActionSet; it writes and removes one scratch object in the Profile's bucket\n" +
			"(PREFIX/" + preflight.ScratchDir + "/) and one in the store (mlstate-preflight-*).",
		Description: exitStatus,
		Flags:       flags,
		Action:      run,
	}
}

func run(c *cli.Context) error {
	log := stepcli.Logger(c.App.ErrWriter, c.Bool("verbose")).With("step", "preflight", "pipeline", c.String("pipeline"))
	opts, err := options(c)
	if err != nil {
		return err
	}
	opts.Logger = log
	out := outputs.Writer{Dir: c.String("outputs-dir"), Stdout: c.App.Writer}
	// Written first so an interrupted run reads as not ok.
	if err := out.Files(outputs.Values{"ok": false, "status": preflight.Broken.String(), "checks": preflight.Checklist{}}); err != nil {
		return err
	}
	if opts.Objects != nil || opts.Blueprint != "" {
		opts.Cluster, opts.ClusterErr = kubeconfig.Load(c.String("kubeconfig"), "mlstate-preflight/"+stepcli.Version)
	}
	list := preflight.Run(c.Context, opts)
	if err := render(c.App.ErrWriter, list); err != nil {
		return err
	}
	worst := list.Worst()
	good := worst == preflight.OK || (worst == preflight.Warning && !c.Bool("fail-on-warning"))
	if err := out.Emit(outputs.Values{"ok": good, "status": worst.String(), "checks": list}); err != nil {
		return err
	}
	if err := c.Context.Err(); err != nil {
		return exitcode.With(exitcode.Cancelled, fmt.Errorf("interrupted: %w", err))
	}
	switch {
	case worst == preflight.Broken:
		return exitcode.With(exitcode.Precondition, fmt.Errorf("broken: %s; fix them before training", names(list, preflight.Broken)))
	case !good:
		return exitcode.With(exitcode.Warnings, fmt.Errorf("warnings (--fail-on-warning): %s", names(list, preflight.Warning)))
	}
	return nil
}

// options turns flags into preflight.Options. Malformed --profile, --secret
// and --option values are usage errors; a bad --object becomes a broken
// line instead, because naming that mistake is part of preflight's job.
func options(c *cli.Context) (preflight.Options, error) {
	if c.NArg() > 0 {
		return preflight.Options{}, stepcli.UsageError("unexpected argument %q: staged directories are given with --stage", c.Args().First())
	}
	var problems []error
	if p := c.String("pipeline"); p != "" {
		if err := restorepoint.ValidatePipeline(p); err != nil {
			problems = append(problems, err)
		}
	}
	opts := preflight.Options{
		Namespace:          c.String("kanister-namespace"),
		ControllerSelector: c.String("controller-selector"),
		Blueprint:          c.String("blueprint"),
		Action:             c.String("action"),
		RestoreAction:      c.String("restore-action"),
		DeleteAction:       c.String("delete-action"),
		StoreURL:           c.String("store"),
		StoreSecret:        c.String("store-secret"),
		Pipeline:           c.String("pipeline"),
		Timeout:            c.Duration("check-timeout"),
	}
	if objs := stepflags.List(c, "object"); len(objs) > 0 {
		opts.Objects = preflight.ParseObjects(objs)
	}
	if p := c.String("profile"); p != "" {
		ref, err := kanister.ParseProfile(p)
		problems = appendErr(problems, err)
		opts.Profile = &ref
	}
	if _, err := kanister.ParseOptions(stepflags.List(c, "option")); err != nil {
		problems = append(problems, err)
	}
	secrets, err := parseSecrets(stepflags.List(c, "secret"))
	problems = appendErr(problems, err)
	opts.Secrets = secrets
	stage, err := stepflags.StagePaths(c)
	problems = appendErr(problems, err)
	opts.Stage = stage
	if len(problems) > 0 {
		return opts, exitcode.With(exitcode.Usage, errors.Join(problems...))
	}
	return opts, nil
}

// parseSecrets reads --secret REF=NAMESPACE/NAME values.
func parseSecrets(list []string) (map[string]kanister.ObjectRef, error) {
	out := map[string]kanister.ObjectRef{}
	for _, s := range list {
		name, where, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return nil, stepcli.UsageError("--secret %q: want REF=NAMESPACE/NAME", s)
		}
		ref, err := kanister.ParseProfile(where) // the same NAMESPACE/NAME rules
		if err != nil {
			return nil, stepcli.UsageError("--secret %q: want REF=NAMESPACE/NAME", s)
		}
		out[name] = kanister.ObjectRef{Kind: "Secret", APIVersion: "v1", Name: ref.Name, Namespace: ref.Namespace}
	}
	return out, nil
}

func appendErr(list []error, err error) []error {
	if err != nil {
		return append(list, err)
	}
	return list
}

// render writes the table on a terminal and plain lines otherwise (pod
// logs).
func render(w io.Writer, list preflight.Checklist) error {
	if isTerminal(w) {
		return preflight.WriteTable(w, list)
	}
	return preflight.WriteLines(w, list)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

func names(list preflight.Checklist, s preflight.Status) string {
	var out []string
	for _, c := range list {
		if c.Status == s {
			out = append(out, c.Name)
		}
	}
	return strings.Join(out, ", ")
}
