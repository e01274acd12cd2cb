package stage

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/outputs"
	"github.com/mlstate/mlstate/pkg/tree"
)

func lsCommand() *cli.Command {
	return &cli.Command{
		Name:        "ls",
		Usage:       "list a tree's entries: mode, size, mtime, path (--json: one JSON object per entry)",
		ArgsUsage:   "TREE",
		Description: exitCodes,
		Flags:       append(commonFlags(), &cli.BoolFlag{Name: "json", Usage: "one JSON object per entry", EnvVars: []string{"MLSTATE_JSON"}}),
		Action: func(c *cli.Context) error {
			arg, err := oneArg(c, "TREE")
			if err != nil {
				return err
			}
			e, err := setup(c)
			if err != nil {
				return err
			}
			m, err := load(c, e, arg)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(c.App.Writer)
			for _, en := range m.Entries {
				if c.Bool("json") {
					if err := enc.Encode(en); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(c.App.Writer, "%s %12d %s %s%s\n", modeString(en), en.Size,
					time.Unix(0, en.MTime).UTC().Format(time.RFC3339), en.Path, linkSuffix(en))
			}
			return nil
		},
	}
}

func load(c *cli.Context, e *env, arg string) (*tree.Manifest, error) {
	id, err := resolveTree(e.ctx, e.st, arg)
	if err != nil {
		return nil, err
	}
	m, err := tree.Load(e.ctx, e.st, id)
	return m, classify(err)
}

func modeString(e tree.Entry) string {
	m := fs.FileMode(e.Mode & 0o777)
	switch e.Type {
	case tree.TypeDir:
		m |= fs.ModeDir
	case tree.TypeSymlink:
		m |= fs.ModeSymlink
	}
	return m.String()
}

func linkSuffix(e tree.Entry) string {
	if e.Type == tree.TypeSymlink {
		return " -> " + e.Target
	}
	return ""
}

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:        "diff",
		Usage:       "list paths added (+), removed (-) and changed (M) from the first tree to the second",
		ArgsUsage:   "TREE TREE",
		Description: exitCodes,
		Flags:       commonFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return exitcode.With(exitcode.Usage, fmt.Errorf("diff takes two trees (got %d arguments)", c.NArg()))
			}
			e, err := setup(c)
			if err != nil {
				return err
			}
			a, err := load(c, e, c.Args().Get(0))
			if err != nil {
				return err
			}
			b, err := load(c, e, c.Args().Get(1))
			if err != nil {
				return err
			}
			marks := map[string]string{tree.Added: "+", tree.Removed: "-", tree.Changed: "M"}
			for _, ch := range tree.Diff(a, b) {
				fmt.Fprintf(c.App.Writer, "%s %s\n", marks[ch.Kind], ch.Path)
			}
			return nil
		},
	}
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:        "verify",
		Usage:       "download every chunk of a tree and check its digest; exit 12 naming each broken file",
		ArgsUsage:   "TREE",
		Description: exitCodes,
		Flags:       commonFlags(),
		Action: func(c *cli.Context) error {
			arg, err := oneArg(c, "TREE")
			if err != nil {
				return err
			}
			e, err := setup(c)
			if err != nil {
				return err
			}
			id, err := resolveTree(e.ctx, e.st, arg)
			if err != nil {
				return err
			}
			rep, err := tree.Verify(e.ctx, e.st, id)
			if err != nil {
				return classify(err)
			}
			for _, p := range rep.Broken {
				e.log.Error("broken file", "path", p.Path, "digest", p.Digest.String(), "reason", p.Reason)
			}
			if err := (outputs.Writer{Stdout: c.App.Writer}).Emit(outputs.Values{
				"tree": id.String(), "files": rep.Files, "chunks": rep.Chunks, "broken": len(rep.Broken), "ok": rep.OK(),
			}); err != nil {
				return err
			}
			return classify(rep.Err())
		},
	}
}
