// Command preflight checks, before training starts, everything a snapshot
// and a restore rely on (API server, Kanister CRDs and controller,
// Blueprint, Profile and its bucket, targets, store and latest restore
// point, RBAC, staged paths) and names each broken link with what to do.
// Flags and their MLSTATE_* variables: `preflight --help`.
package main

import (
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/preflight"
)

func main() { stepcli.Main(preflight.App()) }
