package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrAttached: what needs the local node (its address, its image store,
// processes beside it) asked of a cluster someone else runs.
var ErrAttached = errors.New("not available on an attached cluster (it needs the local node)")

// Attach returns a Cluster that someone else runs (kind, k3d, a real one),
// reached through kubeconfig. Nothing is started, and Stop only removes the
// scratch directory Dir; NodeIP is empty, and ImportImage and Run fail with
// ErrAttached.
func Attach(ctx context.Context, kubeconfig string) (*Cluster, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	var v version.Info
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	if err != nil {
		return nil, fmt.Errorf("reach the API server of kubeconfig %s (%s): %w", kubeconfig, cfg.Host, err)
	}
	dir, err := os.MkdirTemp("", "mlstate-attached-")
	if err != nil {
		return nil, err
	}
	return &Cluster{Dir: dir, Server: cfg.Host, Version: v.GitVersion, Kubeconfig: kubeconfig, Client: cs, attached: true}, nil
}

// Attached reports whether the cluster is someone else's (Attach).
func (c *Cluster) Attached() bool { return c.attached }
