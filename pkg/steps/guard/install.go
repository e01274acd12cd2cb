package guard

import (
	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/guard"
	"github.com/mlstate/mlstate/pkg/outputs"
	"github.com/mlstate/mlstate/pkg/stepcli"
)

// install copies the binary for wrapper use, e.g. in an init container:
// command [/guard, install, /mlstate/guard] with an emptyDir at /mlstate.
func install(c *cli.Context) error {
	if c.NArg() != 1 {
		return stepcli.UsageError("guard install takes one argument, the destination PATH (e.g. /mlstate/guard on a shared emptyDir)")
	}
	dst := c.Args().First()
	if err := guard.Install(dst); err != nil {
		return err
	}
	return outputs.Writer{Stdout: c.App.Writer}.Emit(outputs.Values{"installed": dst})
}
