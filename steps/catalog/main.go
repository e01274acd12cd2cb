// Command catalog lists, shows, verifies, compares and prunes a pipeline's
// restore points: `catalog list|show|verify|diff|prune`. Flags and their
// MLSTATE_* variables: `catalog COMMAND --help`. Store credentials come only
// from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or MLSTATE_S3_CREDENTIALS_FILE);
// prune reaches the cluster (for the Blueprint's delete action) through the
// pod's ServiceAccount or --kubeconfig.
package main

import (
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/catalog"
)

func main() { stepcli.Main(catalog.App()) }
