package kubeconfig

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

func TestLoad(t *testing.T) {
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
	cfg, err := Load(good, "mlstate-test")
	if err != nil || cfg.Host != "https://127.0.0.1:6443" || cfg.UserAgent != "mlstate-test" {
		t.Fatalf("Load(good) = %+v, %v", cfg, err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("clusters: {not a list"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad, ""); exitcode.Of(err) != exitcode.Usage {
		t.Fatalf("Load(bad) = %v, want a usage error", err)
	}
	t.Setenv("KUBECONFIG", filepath.Join(dir, "missing"))
	t.Setenv("HOME", dir)
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := Load("", ""); exitcode.Of(err) != exitcode.Precondition {
		t.Fatalf("Load with nothing configured = %v, want a precondition error", err)
	}
}
