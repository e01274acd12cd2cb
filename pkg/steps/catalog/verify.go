package catalog

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/catalog"
	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/outputs"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/stepcli"
)

// ErrBroken: verify found restore points that cannot be restored as recorded.
var ErrBroken = exitcode.With(exitcode.Integrity, errors.New("broken restore points"))

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check that restore points can be restored: every chunk present and matching its digest, Kanister artifacts recorded",
		ArgsUsage: "ID... | --all",
		Flags: commonFlags(
			&cli.BoolFlag{Name: "all", Usage: "verify every restore point of the pipeline", EnvVars: []string{"MLSTATE_VERIFY_ALL"}},
			stepcli.OutputsDirFlag(),
		),
		Action: verify,
	}
}

func verify(c *cli.Context) error {
	var extra []error
	ids := c.Args().Slice()
	switch {
	case c.Bool("all") && len(ids) > 0:
		extra = append(extra, errors.New("give restore point IDs or --all, not both"))
	case !c.Bool("all") && len(ids) == 0:
		extra = append(extra, errors.New("which restore points? give IDs or --all"))
	}
	for _, id := range ids {
		extra = append(extra, restorepoint.ValidateID(id))
	}
	e, err := setup(c, true, extra...)
	if err != nil {
		return err
	}
	if c.Bool("all") {
		if ids, err = restorepoint.List(c.Context, e.st, e.pipeline); err != nil {
			return err
		}
	}
	var problems []string
	var recs []*restorepoint.Record
	for _, id := range ids {
		rec, err := restorepoint.Get(c.Context, e.st, e.pipeline, id, false)
		if errors.Is(err, restorepoint.ErrCorrupt) {
			problems = append(problems, fmt.Sprintf("%s: %v", id, err))
			continue
		}
		if err != nil {
			return err
		}
		e.log.Info("verifying", "restorePoint", id, "trees", len(rec.Trees), "kanisterActions", len(rec.Kanister))
		recs = append(recs, rec)
	}
	// All at once: a pack shared by many restore points is read once.
	reports, err := catalog.VerifyAll(c.Context, e.st, recs)
	if err != nil {
		return err
	}
	for _, rep := range reports {
		problems = append(problems, rep.Problems()...)
	}
	if err := (outputs.Writer{Dir: c.String("outputs-dir")}).Files(outputs.Values{
		"ok": len(problems) == 0, "verified": len(ids), "problems": len(problems),
	}); err != nil {
		return err
	}
	if e.format != "table" {
		if err := e.print(map[string]any{"ok": len(problems) == 0, "reports": reports, "problems": problems}); err != nil {
			return err
		}
	} else {
		for _, r := range reports {
			status := "ok"
			if !r.OK() {
				status = "BROKEN"
			}
			fmt.Fprintf(e.out, "%-8s %s (%d trees, %d Kanister actions checked)\n", status, r.RestorePoint, len(r.Trees), kanisterCount(r))
		}
		for _, p := range problems {
			fmt.Fprintf(e.out, "  broken: %s\n", p)
		}
		if len(ids) == 0 {
			fmt.Fprintf(e.out, "pipeline %s has no restore points to verify\n", e.pipeline)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %d problem(s), first: %s", ErrBroken, len(problems), problems[0])
	}
	return nil
}

func kanisterCount(r catalog.Report) int { return r.KanisterActions }
