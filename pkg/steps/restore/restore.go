// Package restore is the command line of the restore step: bring a
// pipeline's state back from a restore point, through Kanister's restore
// action and by pulling the staged trees back to their paths.
package restore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/outputs"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/snapshot"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/stepflags"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
)

// App returns the restore step's command line.
func App() *cli.App {
	flags := []cli.Flag{
		stepcli.StoreFlag(), stepcli.PipelineFlag(), stepcli.OutputsDirFlag(), stepcli.VerboseFlag(),
		&cli.StringFlag{Name: "restore-point", Usage: "restore point ID to restore", EnvVars: []string{"MLSTATE_RESTORE_POINT"}},
		&cli.BoolFlag{Name: "latest", Usage: "restore the pipeline's newest restore point", EnvVars: []string{"MLSTATE_LATEST"}},
		&cli.BoolFlag{Name: "allow-other-pipeline", Usage: "restore a restore point that belongs to another pipeline", EnvVars: []string{"MLSTATE_ALLOW_OTHER_PIPELINE"}},
		&cli.StringFlag{Name: "action", Value: "restore", Usage: "Blueprint action run with each recorded backup's artifacts", EnvVars: []string{"MLSTATE_RESTORE_ACTION"}},
		&cli.StringSliceFlag{Name: "to", Usage: "restore staged PATH into NEWPATH instead, as PATH=NEWPATH; repeatable", EnvVars: []string{"MLSTATE_TO"}},
		&cli.BoolFlag{Name: "skip-kanister", Usage: "restore only the staged directories", EnvVars: []string{"MLSTATE_SKIP_KANISTER"}},
		&cli.BoolFlag{Name: "skip-stage", Usage: "run only the Kanister restore", EnvVars: []string{"MLSTATE_SKIP_STAGE"}},
		&cli.BoolFlag{Name: "from-this-workflow", Usage: "restore the newest restore point this workflow (--workflow-uid) recorded; when it recorded none (it failed before its snapshot), restore nothing and exit 0", EnvVars: []string{"MLSTATE_FROM_THIS_WORKFLOW"}},
		&cli.StringFlag{Name: "workflow-status", Usage: "the workflow's status in an exit handler ({{workflow.status}}, or KFP's final state): when it succeeded (Succeeded, SUCCEEDED, COMPLETE), restore nothing and exit 0", EnvVars: []string{"MLSTATE_WORKFLOW_STATUS"}},
	}
	flags = append(flags, stepflags.Cluster()...)
	flags = append(flags, stepflags.Workflow()...)
	return &cli.App{
		Name:  "restore",
		Usage: "bring a pipeline's state back from a restore point",
		UsageText: "restore --store URL --pipeline NAME (--restore-point ID | --latest) [--to PATH=NEWPATH]...\n\n" +
			"Staged directories become exactly the snapshot (files added since are removed); each is switched\n" +
			"over only after every chunk was verified. Outputs: restore-point, actionsets, files, bytes-downloaded, restored.\n\n" +
			"In an exit handler, --workflow-status skips the restore after a success, and --from-this-workflow\n" +
			"restores what this run snapshotted (nothing, when it failed before its snapshot). A restore that\n" +
			"would bring nothing back (e.g. only staged trees, with --skip-stage) exits 10 before touching anything.",
		Description: stepcli.ExitCodesHelp,
		Flags:       flags,
		Action:      run,
	}
}

func run(c *cli.Context) error {
	log := stepcli.Logger(c.App.ErrWriter, c.Bool("verbose")).With("step", "restore", "pipeline", c.String("pipeline"))
	to, err := checkFlags(c)
	if err != nil {
		return err
	}
	out := outputs.Writer{Dir: c.String("outputs-dir"), Stdout: c.App.Writer}
	if err := out.Files(outputs.Values{"restore-point": c.String("restore-point"), "actionsets": "", "files": 0, "bytes-downloaded": 0, "restored": false}); err != nil {
		return err
	}
	nothing := func(why string) error {
		log.Info("nothing to restore: " + why)
		return out.Emit(outputs.Values{"restore-point": "", "actionsets": "", "files": 0, "bytes-downloaded": 0, "restored": false})
	}
	if status := c.String("workflow-status"); succeeded(status) {
		return nothing("the workflow's status is " + status)
	}
	st, err := storeurl.Open(c.Context, c.String("store"), storeurl.Options{})
	if err != nil {
		return err
	}
	rec, err := find(c, st)
	if err != nil {
		return err
	}
	if rec == nil {
		return nothing(fmt.Sprintf("workflow %s recorded no restore point of pipeline %s (it ended before its snapshot), so it changed nothing a restore could undo",
			c.String("workflow-uid"), c.String("pipeline")))
	}
	if err := restoresSomething(rec, c.Bool("skip-kanister"), c.Bool("skip-stage")); err != nil {
		return err
	}
	opts := snapshot.RestoreOptions{
		Action:       c.String("action"),
		Workflow:     stepflags.WorkflowOf(c),
		NewRun:       stepflags.NewRun(c),
		To:           to,
		SkipKanister: c.Bool("skip-kanister"),
		SkipStage:    c.Bool("skip-stage"),
		Logger:       log,
	}
	if len(rec.Kanister) > 0 && !opts.SkipKanister {
		kc, err := stepflags.Kanister(c, "mlstate-restore/"+stepcli.Version)
		if err != nil {
			return err
		}
		kc.Logger = log
		kc.Namespace = stepflags.KanisterNamespaceFor(c, rec.KanisterNamespace)
		opts.Kanister = kc
	}
	log.Info("restoring", "restorePoint", rec.ID, "kanisterActions", len(rec.Kanister), "trees", len(rec.Trees))
	res, err := snapshot.Restore(c.Context, st, rec, opts)
	if err != nil {
		return err
	}
	return out.Emit(outputs.Values{
		"restore-point":    rec.ID,
		"actionsets":       res.ActionSet,
		"files":            res.Files,
		"bytes-downloaded": res.BytesDownloaded,
		"restored":         true,
	})
}

// succeeded reports whether an exit handler's workflow status means
// success: Argo's Succeeded, KFP's SUCCEEDED (Vertex AI) or COMPLETE (the
// open-source backend).
func succeeded(status string) bool {
	switch strings.ToUpper(strings.TrimSpace(status)) {
	case "SUCCEEDED", "COMPLETE":
		return true
	}
	return false
}

// restoresSomething refuses, before anything is touched, a restore that
// would bring nothing back: a success that restored nothing hides that the
// pipeline's state is still the failed run's.
func restoresSomething(rec *restorepoint.Record, skipKanister, skipStage bool) error {
	kan := len(rec.Kanister) > 0 && !skipKanister
	stage := len(rec.Trees) > 0 && !skipStage
	if kan || stage {
		return nil
	}
	var what []string
	if len(rec.Kanister) > 0 {
		what = append(what, fmt.Sprintf("%d Kanister action(s), skipped by --skip-kanister", len(rec.Kanister)))
	}
	if len(rec.Trees) > 0 {
		what = append(what, fmt.Sprintf("staged %s, skipped by --skip-stage", stagedPaths(rec)))
	}
	if len(what) == 0 {
		what = append(what, "nothing")
	}
	return exitcode.With(exitcode.Precondition, fmt.Errorf(
		"restore point %s holds %s, so this restore would restore nothing; "+
			"mount the staged paths and drop --skip-stage (Argo: the restore template's workspace-pvc parameter), or restore them with stage-pull or guard",
		rec.ID, strings.Join(what, " and ")))
}

func stagedPaths(rec *restorepoint.Record) string {
	paths := make([]string, len(rec.Trees))
	for i, t := range rec.Trees {
		paths[i] = t.Path
	}
	return strings.Join(paths, ", ")
}

func find(c *cli.Context, st store.Store) (*restorepoint.Record, error) {
	pipeline := c.String("pipeline")
	var (
		rec *restorepoint.Record
		err error
	)
	switch {
	case c.Bool("from-this-workflow"):
		return fromWorkflow(c.Context, st, pipeline, c.String("workflow-uid"))
	case c.Bool("latest"):
		rec, err = restorepoint.Latest(c.Context, st, pipeline)
	default:
		rec, err = restorepoint.Get(c.Context, st, pipeline, c.String("restore-point"), c.Bool("allow-other-pipeline"))
	}
	return rec, err
}

// fromWorkflow returns the newest restore point of pipeline that workflow
// uid recorded, or nil when it recorded none.
func fromWorkflow(ctx context.Context, st store.Store, pipeline, uid string) (*restorepoint.Record, error) {
	ids, err := restorepoint.List(ctx, st, pipeline)
	if err != nil {
		return nil, err
	}
	for i := len(ids) - 1; i >= 0; i-- {
		rec, err := restorepoint.Get(ctx, st, pipeline, ids[i], false)
		if err != nil {
			return nil, err
		}
		if rec.Workflow.UID == uid {
			return rec, nil
		}
	}
	return nil, nil
}

func checkFlags(c *cli.Context) (map[string]string, error) {
	var problems []error
	if c.NArg() > 0 {
		problems = append(problems, errors.New("unexpected argument "+c.Args().First()+": use --restore-point ID or --latest"))
	}
	if c.String("store") == "" {
		problems = append(problems, errors.New("no store given: set --store or MLSTATE_STORE"))
	}
	if err := restorepoint.ValidatePipeline(c.String("pipeline")); err != nil {
		problems = append(problems, err)
	}
	id, latest, this := c.String("restore-point"), c.Bool("latest"), c.Bool("from-this-workflow")
	switch {
	case this && (id != "" || latest):
		problems = append(problems, errors.New("--from-this-workflow excludes --restore-point and --latest"))
	case this && c.String("workflow-uid") == "":
		problems = append(problems, errors.New("--from-this-workflow needs --workflow-uid ({{workflow.uid}} in Argo, the run ID in KFP)"))
	case this:
	case id == "" && !latest:
		problems = append(problems, errors.New("which restore point? give --restore-point ID, --latest or --from-this-workflow"))
	case id != "" && latest:
		problems = append(problems, errors.New("--restore-point and --latest exclude each other"))
	case id != "":
		if err := restorepoint.ValidateID(id); err != nil {
			problems = append(problems, err)
		}
	}
	if c.Bool("skip-kanister") && c.Bool("skip-stage") {
		problems = append(problems, errors.New("--skip-kanister with --skip-stage leaves nothing to restore"))
	}
	to := map[string]string{}
	for _, s := range c.StringSlice("to") {
		from, dest, ok := strings.Cut(s, "=")
		if !ok || from == "" || dest == "" {
			problems = append(problems, errors.New("--to "+s+": want PATH=NEWPATH"))
			continue
		}
		abs, err := filepath.Abs(dest)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		to[filepath.Clean(from)] = abs
	}
	if len(problems) > 0 {
		return nil, exitcode.With(exitcode.Usage, errors.Join(problems...))
	}
	return to, nil
}
