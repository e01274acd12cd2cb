// Package kubeconfig finds the cluster a step talks to: an explicit
// kubeconfig file, else the pod's in-cluster identity, else KUBECONFIG or
// ~/.kube/config, the order users of kubectl expect.
package kubeconfig

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Load returns a client config. path is the --kubeconfig flag ("" when not
// given). The user agent names the step, so API server audit logs show it.
func Load(path, userAgent string) (*rest.Config, error) {
	cfg, err := load(path)
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = userAgent
	// Steps create a handful of objects and one watch; the client-go
	// default of 5 QPS only slows event listing on failure.
	cfg.QPS, cfg.Burst = 20, 40
	return cfg, nil
}

func load(path string) (*rest.Config, error) {
	if path != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("read kubeconfig %s: %w", path, err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if err == nil {
		return cfg, nil
	}
	if !errors.Is(err, rest.ErrNotInCluster) {
		return nil, fmt.Errorf("in-cluster config: %w", err)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err = cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, fmt.Errorf("no cluster configured: not running in a pod, no --kubeconfig, and no KUBECONFIG or ~/.kube/config (%s)", os.Getenv("KUBECONFIG"))
		}
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	return cfg, nil
}
