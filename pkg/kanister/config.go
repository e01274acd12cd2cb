package kanister

import (
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

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
