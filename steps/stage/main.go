// Command stage pushes directories into the store as content-addressed,
// incremental trees and pulls them back verified. Flags and their MLSTATE_*
// variables: `stage --help`. Store credentials come only from
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or MLSTATE_S3_CREDENTIALS_FILE).
package main

import (
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/stage"
)

func main() { stepcli.Main(stage.App()) }
