package kanister

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

func TestRESTConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := RESTConfig(good)
	if err != nil || cfg.Host != "https://127.0.0.1:6443" {
		t.Fatalf("RESTConfig(good) = %v, %v", cfg, err)
	}
	if c, err := NewClient(cfg, ""); err != nil || c.namespace() != DefaultNamespace {
		t.Fatalf("NewClient = %v, %v", c, err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("clusters: {not a list"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := RESTConfig(bad); exitcode.Of(err) != exitcode.Usage {
		t.Fatalf("RESTConfig(bad) = %v, want a usage error", err)
	}
	t.Setenv("KUBECONFIG", filepath.Join(dir, "missing"))
	t.Setenv("HOME", dir)
	if _, err := RESTConfig(""); exitcode.Of(err) != exitcode.Precondition {
		t.Fatalf("RESTConfig with nothing configured = %v, want a precondition error", err)
	}
}
