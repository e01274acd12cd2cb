// Package kubeconfig finds the cluster a step talks to: an explicit
// kubeconfig file (--kubeconfig, which also reads $KUBECONFIG), else the
// pod's in-cluster identity, else ~/.kube/config, the order kubectl users
// expect.
package kubeconfig

import (
	"errors"
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

// Load returns a client config. path is the --kubeconfig flag ("" when not
// given). The user agent names the step, so API server audit logs show it.
// A malformed file is a usage error; no cluster at all is a precondition.
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
	if path == "" {
		cfg, err := rest.InClusterConfig()
		if err == nil {
			return cfg, nil
		}
		if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, exitcode.With(exitcode.Precondition, fmt.Errorf("in-cluster Kubernetes config: %w", err))
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	switch {
	case clientcmd.IsEmptyConfig(err):
		return nil, exitcode.With(exitcode.Precondition, errors.New(
			"no Kubernetes cluster configured: not running in a pod and no kubeconfig; set --kubeconfig or KUBECONFIG"))
	case err != nil:
		return nil, exitcode.With(exitcode.Usage, fmt.Errorf("load kubeconfig %s: %w", path, err))
	}
	return cfg, nil
}
