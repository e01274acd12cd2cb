package stage

import (
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/outputs"
	"github.com/mlstate/mlstate/pkg/progress"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/tree"
)

func pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "snapshot DIR into the store; prints the tree ID",
		ArgsUsage: "DIR",
		Description: `Outputs (files in --outputs-dir and one JSON line on stdout): tree, parent,
files, bytes, bytes-read, bytes-uploaded, chunks-uploaded, files-reused.` + exitCodes,
		Flags: append(commonFlags(),
			&cli.StringFlag{Name: "name", Usage: "record the tree under NAME; the last tree under NAME is the default parent", EnvVars: []string{"MLSTATE_NAME"}},
			&cli.StringFlag{Name: "parent", Usage: "tree to compare with (ID or name:NAME): files with the same size and mtime are not read", EnvVars: []string{"MLSTATE_PARENT"}},
			&cli.BoolFlag{Name: "rehash", Usage: "read every file even when it matches the parent", EnvVars: []string{"MLSTATE_REHASH"}},
			&cli.BoolFlag{Name: "cross-mounts", Usage: "include volumes mounted below DIR (by default they are skipped with a warning)", EnvVars: []string{"MLSTATE_CROSS_MOUNTS"}},
			stepcli.OutputsDirFlag(),
			phaseOutputFlag(),
		),
		Action: runPush,
	}
}

func runPush(c *cli.Context) error {
	dir, err := oneArg(c, "DIR")
	if err != nil {
		return err
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	opts := tree.PushOptions{Name: c.String("name"), Rehash: c.Bool("rehash"), CrossMounts: c.Bool("cross-mounts"), Concurrency: c.Int("concurrency"), Logger: e.log}
	if p := c.String("parent"); p != "" {
		if opts.Parent, err = resolveTree(e.ctx, e.st, p); err != nil {
			return err
		}
	}
	if opts.Name == "" {
		e.log.Warn("pushing an unnamed tree: catalog prune's sweep deletes trees that are neither the last push under a name nor used by a restore point; pass --name to keep it pullable")
	}
	rep := progress.Start(progress.FromEnv("push", e.stderr, e.log))
	opts.Progress = rep
	res, err := tree.Push(e.ctx, e.st, dir, opts)
	rep.Stop()
	if err != nil {
		return classify(err)
	}
	e.log.Info("pushed", "tree", res.ID.String(), "files", res.Files, "bytes", res.Bytes,
		"bytes_uploaded", res.BytesUploaded, "files_reused", res.FilesReused, "store", e.st.String())
	parent := ""
	if !res.Parent.IsZero() {
		parent = res.Parent.String()
	}
	if c.Bool("phase-output") {
		err := writePhaseOutputs(c.App.Writer, map[string]string{
			"tree": res.ID.String(), "files": strconv.FormatInt(res.Files, 10), "bytes": strconv.FormatInt(res.Bytes, 10),
			"bytes_uploaded": strconv.FormatInt(res.BytesUploaded, 10),
		})
		if err != nil {
			return err
		}
	}
	return e.out.Emit(outputs.Values{
		"tree": res.ID.String(), "parent": parent, "files": res.Files, "bytes": res.Bytes,
		"bytes-read": res.BytesRead, "bytes-uploaded": res.BytesUploaded,
		"chunks-uploaded": res.ChunksUploaded, "files-reused": res.FilesReused,
	})
}
