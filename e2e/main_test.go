//go:build e2e

// Package e2e runs mlstate on a real single-node cluster (e2e/cluster):
// real pods of real images on a real kubelet. `make e2e` builds what it
// needs and runs it as root; the build tag keeps it out of `go test ./...`.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mlstate/mlstate/e2e/cluster"
)

// attachEnv names a kubeconfig: the tests run against that cluster (kind,
// k3d, a real one) instead of starting the local one (e2e/README.md).
const attachEnv = "MLSTATE_E2E_KUBECONFIG"

var (
	clus       *cluster.Cluster
	setupErr   error
	skipReason string
	startTook  time.Duration
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx := context.Background()
	root, err := filepath.Abs("..")
	if err != nil {
		setupErr = err
		return m.Run()
	}
	if kubeconfig := os.Getenv(attachEnv); kubeconfig != "" {
		// Someone else's cluster: nothing to build, start or stop.
		if clus, setupErr = cluster.Attach(ctx, kubeconfig); setupErr != nil {
			return m.Run()
		}
		fmt.Fprintf(os.Stderr, "e2e: attached to %s (%s)\n", clus.Server, clus.Timings[0].Phase)
		code := m.Run()
		_ = clus.Stop(ctx)
		return code
	}
	if os.Geteuid() != 0 {
		skipReason = "the local cluster needs root (kubelet, containerd, network devices): run `sudo make test-e2e`, or set " + attachEnv + " to run against your own cluster (e2e/README.md)"
		return m.Run()
	}
	opts, err := cluster.RepoOptions(ctx, root)
	var missing *cluster.MissingError
	switch {
	case errors.As(err, &missing):
		skipReason = err.Error()
		return m.Run()
	case err != nil:
		setupErr = err
		return m.Run()
	}
	opts.Log = os.Stderr
	start := time.Now()
	clus, setupErr = cluster.Start(ctx, opts)
	if setupErr != nil {
		return m.Run()
	}
	startTook = time.Since(start)
	fmt.Fprintf(os.Stderr, "e2e: cluster up in %s: %v\n", startTook.Round(time.Millisecond), clus.Timings)

	// An interrupted run still tears the cluster down.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		_ = clus.Stop(context.Background())
		os.Exit(1)
	}()
	code := m.Run()
	signal.Stop(sig)
	stopStart := time.Now()
	if err := clus.Stop(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stop: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: cluster stopped in %s\n", time.Since(stopStart).Round(time.Millisecond))
	return code
}

// needCluster returns the running cluster, or skips (fails under CI) when
// its binaries are missing.
func needCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	if skipReason != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(skipReason)
		}
		t.Skip(skipReason)
	}
	if setupErr != nil {
		t.Fatalf("start the local cluster: %v", setupErr)
	}
	if err := clus.Err(); err != nil {
		t.Fatalf("the local cluster broke: %v", err)
	}
	return clus
}

// needNode is needCluster for a test that needs the local node itself (its
// address, its image store, hostPath volumes): it skips on an attached
// cluster, saying why.
func needNode(t *testing.T, why string) *cluster.Cluster {
	t.Helper()
	c := needCluster(t)
	if c.Attached() {
		t.Skipf("needs the local node (%s); skipped on the attached cluster", why)
	}
	return c
}
