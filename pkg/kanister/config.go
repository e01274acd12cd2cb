package kanister

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

// RESTConfig finds the cluster the way the steps document it: the given
// kubeconfig file, else $KUBECONFIG, else the in-cluster service account,
// else ~/.kube/config.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" && os.Getenv("KUBECONFIG") == "" {
		cfg, err := rest.InClusterConfig()
		if err == nil {
			return cfg, nil
		}
		if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, exitcode.With(exitcode.Precondition, fmt.Errorf("in-cluster Kubernetes config: %w", err))
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	switch {
	case clientcmd.IsEmptyConfig(err):
		return nil, exitcode.With(exitcode.Precondition, errors.New(
			"no Kubernetes cluster configured: not running in a pod and no kubeconfig; set --kubeconfig or KUBECONFIG"))
	case err != nil:
		return nil, exitcode.With(exitcode.Usage, fmt.Errorf("load kubeconfig: %w", err))
	}
	return cfg, nil
}

// NewClient builds a Client for cfg with the defaults of every other field;
// namespace "" means "kanister".
func NewClient(cfg *rest.Config, namespace string) (*Client, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, exitcode.With(exitcode.Usage, fmt.Errorf("build the Kubernetes client: %w", err))
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, exitcode.With(exitcode.Usage, fmt.Errorf("build the Kubernetes client: %w", err))
	}
	return &Client{Dynamic: dyn, Kube: kube, Namespace: namespace}, nil
}
