// Command restore brings an ML pipeline's state back from a restore point
// taken by snapshot: Kanister restore actions built from the recorded
// artifacts, and staged directories pulled back and verified. Flags and their
// MLSTATE_* variables: `restore --help`.
package main

import (
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/restore"
)

func main() { stepcli.Main(restore.App()) }
