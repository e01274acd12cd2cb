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

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mlstate/mlstate/e2e/cluster"
)

// attachEnv names a kubeconfig: the tests run against that cluster (kind,
// k3d, a real one) instead of starting the local one (e2e/README.md).
const attachEnv = "MLSTATE_E2E_KUBECONFIG"

// asAttachedEnv, when set, runs the tests through the attached mode on
// the local cluster, prepared first as a user prepares theirs (Argo, the
// images, a store): how that mode is checked here.
const asAttachedEnv = "MLSTATE_E2E_AS_ATTACHED"

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
		fmt.Fprintf(os.Stderr, "e2e: attached to %s (%s)\n", clus.Server, clus.Version)
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
	node, err := cluster.Start(ctx, opts)
	if err != nil {
		setupErr = err
		return m.Run()
	}
	clus = node
	startTook = time.Since(start)
	fmt.Fprintf(os.Stderr, "e2e: cluster up in %s: %v\n", startTook.Round(time.Millisecond), clus.Timings)

	// An interrupted run still tears the cluster down.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		_ = node.Stop(context.Background())
		os.Exit(1)
	}()
	if os.Getenv(asAttachedEnv) != "" {
		// The local cluster prepared as a user prepares theirs, then used
		// only through the attached mode: that mode's check.
		if setupErr = prepareAsUser(ctx, node); setupErr == nil {
			clus, setupErr = cluster.Attach(ctx, node.Kubeconfig)
		}
	}
	code := m.Run()
	signal.Stop(sig)
	stopStart := time.Now()
	if clus != node {
		_ = clus.Stop(context.Background())
	}
	if err := node.Stop(context.Background()); err != nil {
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
// cluster, saying why, except under CI, where every test must run: there
// it fails, naming the variable that made it attach.
func needNode(t *testing.T, why string) *cluster.Cluster {
	t.Helper()
	c := needCluster(t)
	skipAttached(t, c, why)
	return c
}

func skipAttached(t *testing.T, c *cluster.Cluster, why string) {
	t.Helper()
	if !c.Attached() {
		return
	}
	msg := fmt.Sprintf("needs the local node (%s), and the cluster is attached (%s or %s)", why, attachEnv, asAttachedEnv)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + ": under CI every test must run; unset them")
	}
	t.Skip(msg)
}

// prepareAsUser readies the local cluster the way e2e/README.md asks a
// user to ready theirs before setting MLSTATE_E2E_KUBECONFIG: Argo's
// controller running, the step images and busybox:1.36 on the node, a
// store its pods reach, named in MLSTATE_E2E_STORE with its credentials,
// and (for want of a default StorageClass) the checkpoints claim.
func prepareAsUser(ctx context.Context, c *cluster.Cluster) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := startArgo(ctx, c, dyn); err != nil {
		return fmt.Errorf("prepare the cluster as a user would: Argo: %w", err)
	}
	e := &mlEnv{c: c, dyn: dyn}
	if err := e.importImages(ctx); err != nil {
		return fmt.Errorf("prepare the cluster as a user would: images: %w", err)
	}
	if err := e.startStore(ctx); err != nil {
		return fmt.Errorf("prepare the cluster as a user would: store: %w", err)
	}
	// This cluster has no default StorageClass: the claim the examples
	// use is made beforehand, on a node directory, as README allows.
	if err := createNamespaceIfMissing(ctx, c.Client, mlNamespace); err != nil {
		return err
	}
	dir := filepath.Join(c.Dir, "volumes", mlNamespace+"-"+checkpointsPVC)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := createHostPathClaim(ctx, c.Client, mlNamespace, checkpointsPVC, dir); err != nil {
		return fmt.Errorf("prepare the cluster as a user would: claim: %w", err)
	}
	for k, v := range map[string]string{"MLSTATE_E2E_STORE": e.store, "AWS_ACCESS_KEY_ID": e.user, "AWS_SECRET_ACCESS_KEY": e.key} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}
