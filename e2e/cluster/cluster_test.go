package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		"/tmp/a":             "/tmp/a",
		`/tmp/with\040space`: "/tmp/with space",
		`/tmp/tab\011x`:      "/tmp/tab\tx",
		`/tmp/trailing\04`:   `/tmp/trailing\04`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("1\n2\n3\n4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := tail(p, 2); got != "  3\n  4" {
		t.Errorf("tail = %q", got)
	}
	if got := tail(filepath.Join(t.TempDir(), "none"), 2); !strings.Contains(got, "cannot read log") {
		t.Errorf("tail of a missing file = %q", got)
	}
}

// The generated configs must parse, and keep every path under the cluster's
// directory.
func TestConfigs(t *testing.T) {
	o := Options{SandboxImage: SandboxImage}
	o.defaults()
	c := &Cluster{Dir: "/tmp/mlstate-cluster-x", NodeIP: "10.222.0.1", opts: o, pki: &pki{dir: "/tmp/mlstate-cluster-x/pki"}, kubeletPort: 10250}
	var cni map[string]any
	if err := json.Unmarshal([]byte(c.cniConfig()), &cni); err != nil {
		t.Fatalf("CNI config is not JSON: %v\n%s", err, c.cniConfig())
	}
	var kubelet map[string]any
	if err := yaml.Unmarshal([]byte(c.kubeletConfig()), &kubelet); err != nil {
		t.Fatalf("kubelet config is not YAML: %v", err)
	}
	if kubelet["failCgroupV1"] != false || kubelet["cgroupDriver"] != "cgroupfs" {
		t.Errorf("kubelet config lost the cgroup v1 settings: %v", kubelet)
	}
	for _, s := range []string{c.containerdConfig(), c.kubeletConfig(), c.cniConfig()} {
		for _, line := range strings.Split(s, "\n") {
			if strings.Contains(line, `"/`) && !strings.Contains(line, c.Dir) && !strings.Contains(line, o.CNIBinDir) {
				t.Errorf("path outside the cluster's directory: %s", strings.TrimSpace(line))
			}
		}
	}
}

// The API server's certificate must be valid for every address pods and the
// host use: the Service IP (through kube-proxy) and the node's address.
func TestServingCertificate(t *testing.T) {
	p, err := newPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.issue("apiserver", "kube-apiserver", nil, []net.IP{net.ParseIP("10.222.0.1"), net.ParseIP("10.223.0.1")}, []string{"kubernetes.default.svc"}); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(p.path("apiserver.crt"), p.path("apiserver.key"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"10.222.0.1", "10.223.0.1", "kubernetes.default.svc"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: x509CertPool(p)}); err != nil {
			t.Errorf("certificate not valid for %s: %v", host, err)
		}
	}
}
