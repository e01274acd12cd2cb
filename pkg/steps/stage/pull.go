package stage

import (
	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/outputs"
	"github.com/mlstate/mlstate/pkg/progress"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/tree"
)

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "restore a tree into DIR, every chunk verified; DIR is unchanged if the pull fails",
		ArgsUsage: "DIR",
		Description: `Outputs (files in --outputs-dir and one JSON line on stdout): tree, files,
bytes, bytes-downloaded.` + exitCodes,
		Flags: append(commonFlags(),
			&cli.StringFlag{Name: "tree", Usage: "tree to restore: ID or name:NAME (required)", EnvVars: []string{"MLSTATE_TREE"}},
			&cli.BoolFlag{Name: "sync", Usage: "flush the pulled files to disk before switching DIR over (survives power loss; slower)", EnvVars: []string{"MLSTATE_SYNC"}},
			&cli.BoolFlag{Name: "keep-setid", Usage: "restore the setuid/setgid bits of files (dropped by default, with a warning)", EnvVars: []string{"MLSTATE_KEEP_SETID"}},
			&cli.BoolFlag{Name: "delete", Usage: "remove files in DIR that are not in the tree, so DIR becomes exactly the snapshot", EnvVars: []string{"MLSTATE_DELETE"}},
			stepcli.OutputsDirFlag(),
		),
		Action: runPull,
	}
}

func runPull(c *cli.Context) error {
	dir, err := oneArg(c, "DIR")
	if err != nil {
		return err
	}
	if c.String("tree") == "" {
		return stepcli.UsageError("pull needs --tree (or MLSTATE_TREE): the tree ID printed by push, or name:NAME")
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	id, err := resolveTree(e.ctx, e.st, c.String("tree"))
	if err != nil {
		return err
	}
	rep := progress.Start(progress.FromEnv("pull", e.stderr, e.log))
	res, err := tree.Pull(e.ctx, e.st, id, dir, tree.PullOptions{
		Delete: c.Bool("delete"), Sync: c.Bool("sync"), KeepSetID: c.Bool("keep-setid"), Concurrency: c.Int("concurrency"), Logger: e.log, Progress: rep,
	})
	rep.Stop()
	if err != nil {
		return classify(err)
	}
	e.log.Info("pulled", "tree", id.String(), "dir", dir, "files", res.Files, "bytes", res.Bytes, "store", e.st.String())
	return e.out.Emit(outputs.Values{
		"tree": id.String(), "files": res.Files, "bytes": res.Bytes, "bytes-downloaded": res.BytesDownloaded,
	})
}
