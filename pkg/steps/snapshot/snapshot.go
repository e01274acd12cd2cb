// Package snapshot is the command line of the snapshot step: back up a
// pipeline's Kubernetes-side state through Kanister and stage chosen
// directories, then record one restore point.
package snapshot

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/outputs"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/snapshot"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/stepflags"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
)

// App returns the snapshot step's command line.
func App() *cli.App {
	flags := []cli.Flag{stepcli.StoreFlag(), stepcli.CreateBucketFlag(), stepcli.PipelineFlag(), stepcli.OutputsDirFlag(), stepcli.VerboseFlag()}
	flags = append(flags, stepflags.Targets()...)
	flags = append(flags, stepflags.Cluster()...)
	flags = append(flags, stepflags.Workflow()...)
	return &cli.App{
		Name:  "snapshot",
		Usage: "back up a pipeline's state (Kanister actions and staged directories) as one restore point",
		UsageText: "snapshot --store URL --pipeline NAME [--object KIND/NS/NAME --blueprint BP [--profile NS/NAME]] [--stage DIR]...\n\n" +
			"Outputs (files in --outputs-dir, and one JSON line on stdout): restore-point, actionsets, bytes-staged.\n" +
			"No restore point is recorded unless every part succeeded.",
		Description: stepcli.ExitCodesHelp,
		Flags:       flags,
		Action:      run,
	}
}

func run(c *cli.Context) error {
	log := stepcli.Logger(c.App.ErrWriter, c.Bool("verbose")).With("step", "snapshot", "pipeline", c.String("pipeline"))
	if c.NArg() > 0 {
		return stepcli.UsageError("unexpected argument %q: staged directories are given with --stage", c.Args().First())
	}
	opts, err := options(c, log)
	if err != nil {
		return err
	}
	out := outputs.Writer{Dir: c.String("outputs-dir"), Stdout: c.App.Writer}
	// Written first so a failed or interrupted run still yields values.
	if err := out.Files(outputs.Values{"restore-point": "", "actionsets": "", "bytes-staged": 0}); err != nil {
		return err
	}
	st, err := storeurl.Open(c.Context, c.String("store"), storeurl.Options{CreateBucket: c.Bool("create-bucket")})
	if err != nil {
		return err
	}
	if len(opts.Actions) > 0 {
		kc, err := stepflags.Kanister(c, "mlstate-snapshot/"+stepcli.Version)
		if err != nil {
			return err
		}
		kc.Logger = log
		opts.Kanister = kc
		opts.KanisterNamespace = kc.Namespace
	}
	rec, err := snapshot.Take(c.Context, st, opts)
	if err != nil {
		return err
	}
	return out.Emit(outputs.Values{
		"restore-point": rec.ID,
		"actionsets":    actionSets(rec),
		"bytes-staged":  rec.StagedBytes(),
	})
}

func options(c *cli.Context, log *slog.Logger) (snapshot.Options, error) {
	opts, problems := stepflags.SnapshotOptions(c, log)
	if len(problems) > 0 {
		return snapshot.Options{}, exitcode.With(exitcode.Usage, errors.Join(problems...))
	}
	return opts, nil
}

func actionSets(rec *restorepoint.Record) string {
	seen := map[string]bool{}
	var names []string
	for _, a := range rec.Kanister {
		if a.ActionSet != "" && !seen[a.ActionSet] {
			seen[a.ActionSet] = true
			names = append(names, a.ActionSet)
		}
	}
	return strings.Join(names, ",")
}
