package testsupport

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

//go:embed testdata/kanister-crds/*.yaml
var kanisterCRDFiles embed.FS

// KubeEnv is a real kube-apiserver and etcd with the Kanister and Argo CRDs
// installed, shared by the tests of one package. Authorization is RBAC, and
// Config is an admin's.
type KubeEnv struct {
	Config    *rest.Config
	Clientset kubernetes.Interface
	Dynamic   dynamic.Interface

	env        *envtest.Environment
	namespaces atomic.Int64
}

var (
	kubeOnce sync.Once
	kubeEnv  *KubeEnv
	kubeErr  error
)

// KubeAssets returns the directory holding kube-apiserver and etcd, or "".
func KubeAssets(t testing.TB) string {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "bin", "testenv", "k8s")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return ""
		}
	}
	return dir
}

// Kube returns the package's API server, starting it on first use.
func Kube(t testing.TB) *KubeEnv {
	t.Helper()
	skipShort(t)
	assets := KubeAssets(t)
	if assets == "" {
		missing(t, "kube-apiserver and etcd binaries")
	}
	kubeOnce.Do(func() { kubeEnv, kubeErr = startKube(assets, argoCRDDir(t)) })
	if kubeErr != nil {
		t.Fatalf("start kube-apiserver: %v", kubeErr)
	}
	return kubeEnv
}

func startKube(assets, argoCRDs string) (*KubeEnv, error) {
	crds, err := KanisterCRDs()
	if err != nil {
		return nil, err
	}
	// envtest finds etcd through KUBEBUILDER_ASSETS even when
	// BinaryAssetsDirectory is set, and an empty value (make unit) hides it.
	if err := os.Setenv("KUBEBUILDER_ASSETS", assets); err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDs:                     crds,
		CRDDirectoryPaths:        []string{argoCRDs},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
		// envtest waits 10 s by default for the CRDs to be served; a cold,
		// loaded CI run (or make stress) can take longer than that.
		CRDInstallOptions: envtest.CRDInstallOptions{MaxTime: 2 * time.Minute},
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("envtest with assets in %s: %w", assets, err)
	}
	onTeardown(func() { _ = env.Stop() })
	cfg.QPS, cfg.Burst = 200, 400
	k := &KubeEnv{Config: cfg, env: env}
	if k.Clientset, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if k.Dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, err
	}
	return k, nil
}

// KanisterCRDs returns mlstate's test copies of the Kanister CRDs.
func KanisterCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, name := range []string{"actionset", "blueprint", "profile"} {
		b, err := kanisterCRDFiles.ReadFile("testdata/kanister-crds/" + name + ".yaml")
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096).Decode(crd); err != nil {
			return nil, fmt.Errorf("decode Kanister CRD %s: %w", name, err)
		}
		crds = append(crds, crd)
	}
	return crds, nil
}

// argoCRDDir is the minimal Argo CRD directory inside the argo-workflows
// module (see the Argo notes: the full ones need server-side apply and add
// nothing the tests check).
func argoCRDDir(t testing.TB) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/argoproj/argo-workflows/v3").Output()
	if err != nil {
		t.Fatalf("locate the argo-workflows module (for its CRDs): %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "manifests", "base", "crds", "minimal")
}

// Namespace creates a fresh namespace for one test and returns its name.
func (k *KubeEnv) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d-%s", prefix, k.namespaces.Add(1), randHex(3))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := k.Clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// UserConfig returns a client config that authenticates as the given user
// and groups (no extra rights: grant them with RBAC objects), for tests of
// permission checks.
func (k *KubeEnv) UserConfig(t testing.TB, name string, groups ...string) *rest.Config {
	t.Helper()
	user, err := k.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		t.Fatalf("add API user %s: %v", name, err)
	}
	return user.Config()
}

// Kubeconfig writes a kubeconfig file for cfg and returns its path, for
// running a step as a user would (--kubeconfig).
func Kubeconfig(t testing.TB, cfg *rest.Config) string {
	t.Helper()
	b, err := kubeconfigBytes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
