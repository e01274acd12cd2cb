// Command guard snapshots an ML pipeline's state, runs a command (e.g.
// training) and restores the snapshot if the command fails, then exits with
// the command's status: `guard [flags] -- COMMAND [ARGS...]`. It takes the
// snapshot step's flags (--store, --pipeline, --stage, --object, ...) and
// --restore-on; each has an MLSTATE_* variable (`guard --help`). Store
// credentials come only from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or
// MLSTATE_S3_CREDENTIALS_FILE). `guard install PATH` copies the binary into
// a shared volume for images without a shell.
package main

import (
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/guard"
)

func main() { stepcli.Main(guard.App()) }
