package stepcli

import (
	"github.com/urfave/cli/v2"
)

// Shared flags. Each one has an MLSTATE_ environment variable so a template
// can set it once for every step; credentials are deliberately not flags.

// StoreFlag names the store (see pkg/store for the URL format).
func StoreFlag() *cli.StringFlag {
	return &cli.StringFlag{
		Name:    "store",
		Usage:   "store URL: s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT or file:///ABSOLUTE/PATH",
		EnvVars: []string{"MLSTATE_STORE"},
	}
}

// CreateBucketFlag lets a step that writes to the store create its bucket
// (or file-store directory); without it a missing one is an error, so a typo
// in the URL does not quietly start a new store.
func CreateBucketFlag() *cli.BoolFlag {
	return &cli.BoolFlag{
		Name:    "create-bucket",
		Usage:   "create the bucket (or file-store directory) when it does not exist",
		EnvVars: []string{"MLSTATE_CREATE_BUCKET"},
	}
}

// OutputsDirFlag is where Argo output-parameter files go, one file per value.
func OutputsDirFlag() *cli.StringFlag {
	return &cli.StringFlag{
		Name:    "outputs-dir",
		Usage:   "directory for output-parameter files (one file per value, for Argo's valueFrom.path)",
		Value:   "/tmp/outputs",
		EnvVars: []string{"MLSTATE_OUTPUTS_DIR"},
	}
}

// VerboseFlag turns on debug logs.
func VerboseFlag() *cli.BoolFlag {
	return &cli.BoolFlag{
		Name:    "verbose",
		Aliases: []string{"v"},
		Usage:   "log debug detail",
		EnvVars: []string{"MLSTATE_VERBOSE"},
	}
}

// PipelineFlag names the pipeline a restore point belongs to.
func PipelineFlag() *cli.StringFlag {
	return &cli.StringFlag{
		Name:    "pipeline",
		Usage:   "pipeline name; restore points are grouped and found by it",
		EnvVars: []string{"MLSTATE_PIPELINE"},
	}
}
