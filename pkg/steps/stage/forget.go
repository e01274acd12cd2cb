package stage

import (
	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/outputs"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/tree"
)

func forgetCommand() *cli.Command {
	return &cli.Command{
		Name:  "forget",
		Usage: "drop a tree from a push name's history, so catalog prune's sweep frees it once no restore point uses it",
		Description: `The tree and its chunks stay until the next sweep, which deletes them only
when no restore point refers to the tree (chunks are shared between trees).
The next push under the name takes the latest remaining tree as its parent.
Forgetting a tree the name does not hold succeeds and changes nothing.

Outputs (files in --outputs-dir and one JSON line on stdout): tree, name, forgotten.` + exitCodes,
		Flags: append(commonFlags(),
			&cli.StringFlag{Name: "tree", Usage: "tree ID to forget (required)", EnvVars: []string{"MLSTATE_TREE"}},
			&cli.StringFlag{Name: "name", Usage: "push name to drop it from (required)", EnvVars: []string{"MLSTATE_NAME"}},
			stepcli.OutputsDirFlag(),
		),
		Action: runForget,
	}
}

func runForget(c *cli.Context) error {
	if c.NArg() != 0 {
		return stepcli.UsageError("forget takes no arguments (got %d); pass --tree and --name", c.NArg())
	}
	if c.String("tree") == "" || c.String("name") == "" {
		return stepcli.UsageError("forget needs --tree (a tree ID) and --name (the push name it was recorded under)")
	}
	id, err := tree.ParseID(c.String("tree"))
	if err != nil {
		return classify(err)
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	n, err := tree.Forget(e.ctx, e.st, c.String("name"), id)
	if err != nil {
		return classify(err)
	}
	e.log.Info("forgotten", "tree", id.String(), "name", c.String("name"), "records", n, "store", e.st.String())
	return e.out.Emit(outputs.Values{"tree": id.String(), "name": c.String("name"), "forgotten": n})
}
