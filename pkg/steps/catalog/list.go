package catalog

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/catalog"
	"github.com/mlstate/mlstate/pkg/progress"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/stepcli"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name: "list", Usage: "list a pipeline's restore points, newest first",
		Flags: commonFlags(), Action: list,
	}
}

func list(c *cli.Context) error {
	var extra error
	if c.NArg() > 0 {
		extra = stepcli.UsageError("list takes no arguments (got %q)", c.Args().First())
	}
	e, err := setup(c, true, extra)
	if err != nil {
		return err
	}
	recs, err := catalog.Records(c.Context, e.st, e.pipeline)
	if err != nil {
		return err
	}
	rows := make([]catalog.Summary, 0, len(recs))
	for _, r := range recs {
		rows = append(rows, catalog.Summarize(r))
	}
	if e.format != "table" {
		return e.print(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintf(e.out, "pipeline %s has no restore points in %s\n", e.pipeline, e.st)
		return nil
	}
	tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESTORE POINT\tCREATED\tWORKFLOW\tKANISTER\tTREES\tFILES\tSTAGED")
	for _, s := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.ID, s.Created, dash(s.Workflow), dash(strings.Join(s.Kanister, ", ")),
			s.Trees, s.Files, progress.Bytes(s.StagedBytes))
	}
	return tw.Flush()
}

func showCommand() *cli.Command {
	return &cli.Command{
		Name: "show", Usage: "print one restore point's whole record (yaml unless --output json)",
		ArgsUsage: "ID", Flags: commonFlags(), Action: show,
	}
}

func show(c *cli.Context) error {
	var extra error
	if c.NArg() != 1 {
		extra = stepcli.UsageError("show takes one restore point ID (see `catalog list`)")
	} else if err := restorepoint.ValidateID(c.Args().First()); err != nil {
		extra = stepcli.UsageError("%v", err)
	}
	e, err := setup(c, true, extra)
	if err != nil {
		return err
	}
	rec, err := restorepoint.Get(c.Context, e.st, e.pipeline, c.Args().First(), false)
	if err != nil {
		return err
	}
	if e.format == "table" {
		e.format = "yaml"
	}
	return e.print(rec)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
