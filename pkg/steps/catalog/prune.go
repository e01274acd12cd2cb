package catalog

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/catalog"
	"github.com/mlstate/mlstate/pkg/outputs"
	"github.com/mlstate/mlstate/pkg/progress"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/stepflags"
	"github.com/mlstate/mlstate/pkg/store"
)

func pruneCommand() *cli.Command {
	flags := commonFlags(
		&cli.IntFlag{Name: "keep-last", Usage: "keep the N newest restore points of each pipeline", EnvVars: []string{"MLSTATE_KEEP_LAST"}},
		&cli.DurationFlag{Name: "keep-within", Usage: "keep every restore point younger than this (e.g. 168h)", EnvVars: []string{"MLSTATE_KEEP_WITHIN"}},
		&cli.BoolFlag{Name: "dry-run", Usage: "say what would be removed and swept; change nothing", EnvVars: []string{"MLSTATE_DRY_RUN"}},
		&cli.BoolFlag{Name: "force", Usage: "allow a retention that keeps nothing, or removes every restore point", EnvVars: []string{"MLSTATE_FORCE"}},
		&cli.BoolFlag{Name: "all-pipelines", Usage: "apply the retention to every pipeline in the store (instead of --pipeline)", EnvVars: []string{"MLSTATE_ALL_PIPELINES"}},
		&cli.StringFlag{Name: "delete-action", Value: "delete", Usage: "Blueprint action that deletes a backup's data, run with the record's artifacts", EnvVars: []string{"MLSTATE_DELETE_ACTION"}},
		&cli.DurationFlag{Name: "grace", Value: time.Hour, Usage: "never sweep trees or chunks stored less than this long ago (covers a snapshot between its push and its record)", EnvVars: []string{"MLSTATE_SWEEP_GRACE"}},
		stepcli.OutputsDirFlag(),
	)
	flags = append(flags, stepflags.Cluster()...)
	return &cli.Command{
		Name:   "prune",
		Usage:  "remove old restore points (Kanister delete action, record, then unreferenced chunks)",
		Flags:  flags,
		Action: prune,
	}
}

func prune(c *cli.Context) error {
	var extra []error
	if c.NArg() > 0 {
		extra = append(extra, fmt.Errorf("prune takes no arguments (got %q)", c.Args().First()))
	}
	all := c.Bool("all-pipelines")
	if all == (c.String("pipeline") != "") {
		extra = append(extra, errors.New("give --pipeline NAME or --all-pipelines (exactly one)"))
	}
	if c.Duration("grace") < 0 {
		extra = append(extra, errors.New("--grace must not be negative"))
	}
	e, err := setup(c, !all, extra...)
	if err != nil {
		return err
	}
	pipelines := []string{e.pipeline}
	if all {
		if pipelines, err = restorepoint.Pipelines(c.Context, e.st); err != nil {
			return err
		}
	}
	opts := catalog.PruneOptions{
		Pipelines: pipelines,
		Retention: catalog.Retention{KeepLast: c.Int("keep-last"), KeepWithin: c.Duration("keep-within")},
		Force:     c.Bool("force"), DryRun: c.Bool("dry-run"),
		DeleteAction: c.String("delete-action"), Grace: c.Duration("grace"), Logger: e.log,
	}
	if !opts.DryRun {
		need, err := needsKanister(c, e.st, opts)
		if err != nil {
			return err
		}
		if need {
			kc, err := stepflags.Kanister(c, "mlstate-catalog/"+stepcli.Version)
			if err != nil {
				return err
			}
			kc.Logger = e.log
			opts.Kanister = kc
			// Each restore point's delete runs where its backup ran, unless
			// --kanister-namespace says otherwise (as for restore).
			opts.KanisterNamespace = func(recorded string) string { return stepflags.KanisterNamespaceFor(c, recorded) }
		}
	}
	res, perr := catalog.Prune(c.Context, e.st, opts)
	if err := report(c, e, res, opts.DryRun); err != nil {
		return err
	}
	return perr
}

// needsKanister reports whether any restore point to remove has Kanister
// actions, so a cluster connection is only required when one does.
func needsKanister(c *cli.Context, st store.Store, opts catalog.PruneOptions) (bool, error) {
	for _, p := range opts.Pipelines {
		ids, err := restorepoint.List(c.Context, st, p)
		if err != nil {
			return false, err
		}
		_, remove, err := catalog.Select(ids, opts.Retention, time.Now(), opts.Force)
		if err != nil {
			return false, fmt.Errorf("pipeline %s: %w", p, err)
		}
		for _, id := range remove {
			rec, err := restorepoint.Get(c.Context, st, p, id, false)
			if err != nil {
				return false, err
			}
			if len(rec.Kanister) > 0 {
				return true, nil
			}
		}
	}
	return false, nil
}

func report(c *cli.Context, e *env, res catalog.PruneResult, dry bool) error {
	if err := (outputs.Writer{Dir: c.String("outputs-dir")}).Files(outputs.Values{
		"removed": len(res.Removed), "kept": len(res.Kept), "failed": len(res.Failed),
	}); err != nil {
		return err
	}
	if e.format != "table" {
		return e.print(res)
	}
	verb := "removed"
	if dry {
		verb = "would remove"
	}
	for _, r := range res.Removed {
		fmt.Fprintf(e.out, "%s %s\n", verb, r)
	}
	for _, f := range res.Failed {
		fmt.Fprintf(e.out, "KEPT %s: its Kanister delete failed: %s\n", f.RestorePoint, f.Error)
	}
	fmt.Fprintf(e.out, "%d kept, %d %s, %d failed\n", len(res.Kept), len(res.Removed), verb, len(res.Failed))
	if s := res.Sweep; s != nil {
		fmt.Fprintf(e.out, "sweep: %d live trees, %d trees, %d chunks and %d packs (%s) %s, %d packs repacked, %d pushes in progress\n",
			s.LiveTrees, s.TreesDeleted, s.ChunksDeleted, s.PacksDeleted, progress.Bytes(s.BytesDeleted), map[bool]string{true: "to delete", false: "deleted"}[dry], s.PacksRepacked, s.ActivePushes)
	}
	return nil
}
