package kanister

import (
	"testing"

	"k8s.io/client-go/rest"
)

func TestNewClient(t *testing.T) {
	c, err := NewClient(&rest.Config{Host: "https://127.0.0.1:6443"}, "")
	if err != nil || c.namespace() != DefaultNamespace || c.Dynamic == nil || c.Kube == nil {
		t.Fatalf("NewClient = %+v, %v", c, err)
	}
}
