// Command snapshot backs up an ML pipeline's state as one restore point:
// Kanister actions for Kubernetes-side state and staged directories in the
// store. Flags and their MLSTATE_* variables: `snapshot --help`. Store
// credentials come only from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or
// MLSTATE_S3_CREDENTIALS_FILE); the cluster from the pod's ServiceAccount
// or --kubeconfig.
package main

import (
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/snapshot"
)

func main() { stepcli.Main(snapshot.App()) }
