package catalog

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/catalog"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/tree"
)

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "list files added (+), removed (-) and changed (~) in the staged trees from one restore point to another",
		ArgsUsage: "OLDER_ID NEWER_ID",
		Flags:     commonFlags(),
		Action:    diff,
	}
}

var marks = map[string]string{tree.Added: "+", tree.Removed: "-", tree.Changed: "~"}

func diff(c *cli.Context) error {
	var extra []error
	if c.NArg() != 2 {
		extra = append(extra, stepcli.UsageError("diff takes two restore point IDs, the older first"))
	} else {
		extra = append(extra, restorepoint.ValidateID(c.Args().Get(0)), restorepoint.ValidateID(c.Args().Get(1)))
	}
	e, err := setup(c, true, extra...)
	if err != nil {
		return err
	}
	var recs [2]*restorepoint.Record
	for i := range recs {
		if recs[i], err = restorepoint.Get(c.Context, e.st, e.pipeline, c.Args().Get(i), false); err != nil {
			return err
		}
	}
	diffs, err := catalog.Diff(c.Context, e.st, recs[0], recs[1])
	if err != nil {
		return err
	}
	if e.format != "table" {
		if diffs == nil {
			diffs = []catalog.PathDiff{}
		}
		return e.print(diffs)
	}
	if len(diffs) == 0 {
		fmt.Fprintf(e.out, "no staged file differs between %s and %s\n", recs[0].ID, recs[1].ID)
		return nil
	}
	for _, d := range diffs {
		fmt.Fprintf(e.out, "%s:\n", d.Path)
		for _, ch := range d.Changes {
			fmt.Fprintf(e.out, "%s %s\n", marks[ch.Kind], ch.Path)
		}
	}
	return nil
}
