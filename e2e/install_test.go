//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/mlstate/mlstate/e2e/cluster"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// The names the shipped templates and examples use: namespace ml for the
// workflows, kanister for the controller and its Blueprints, the PVC
// checkpoints, the store Secret mlstate-store (workflowtemplates/config.yaml).
const (
	mlNamespace       = "ml"
	kanisterNamespace = "kanister"
	checkpointsPVC    = "checkpoints"
	storeSecret       = "mlstate-store"
	storeBucket       = "mlstate"
	// ExampleShellImage is the image of the examples' training step; the
	// tests import the local busybox under this name.
	ExampleShellImage = "docker.io/library/busybox:1.36"
)

// mlEnv is mlstate installed on the cluster as a user installs it.
type mlEnv struct {
	c         *cluster.Cluster
	dyn       dynamic.Interface
	kube      *testsupport.KubeEnv
	store     string // the store URL in the mlstate ConfigMap: through gate
	minio     string // MinIO's host:port on the node
	gate      *storeGate
	user, key string // MinIO's credentials
	// Took records how long each install step took, for the README's costs.
	Took []cluster.Timing
}

var (
	mlOnce sync.Once
	ml     *mlEnv
	mlErr  error
)

// needMLState installs, once per test binary: Argo (needArgo), the step
// images built by images/build and the example's shell image imported into
// the node, MinIO on the node's address with the store's bucket, the
// Kanister CRDs, `kustomize build workflowtemplates/` applied with the
// ConfigMap's store URL pointing at that MinIO, the store Secret, and the
// checkpoints PVC on a node directory.
func needMLState(t *testing.T) *mlEnv {
	t.Helper()
	c, dyn := needArgo(t)
	mlOnce.Do(func() { ml, mlErr = installMLState(context.Background(), c, dyn) })
	if mlErr != nil {
		t.Fatalf("install mlstate on the cluster: %v", mlErr)
	}
	return ml
}

func installMLState(ctx context.Context, c *cluster.Cluster, dyn dynamic.Interface) (*mlEnv, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, err
	}
	e := &mlEnv{c: c, dyn: dyn, kube: &testsupport.KubeEnv{Config: cfg, Clientset: c.Client, Dynamic: dyn}}
	step := func(name string, f func() error) error {
		start := time.Now()
		err := f()
		e.Took = append(e.Took, cluster.Timing{Phase: name, Duration: time.Since(start)})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	if c.Attached() {
		// The user's cluster pulls the step images itself and brings its
		// own store (e2e/README.md).
		if err := e.attachedStore(); err != nil {
			return nil, err
		}
	} else {
		if err := step("step images", func() error { return e.importImages(ctx) }); err != nil {
			return nil, err
		}
		if err := step("minio", func() error { return e.startStore(ctx) }); err != nil {
			return nil, err
		}
	}
	if err := step("kanister CRDs", func() error { return e.kanisterCRDs(ctx) }); err != nil {
		return nil, err
	}
	if err := step("workflowtemplates", func() error { return e.applyTemplates(ctx) }); err != nil {
		return nil, err
	}
	if err := step("checkpoints PVC", func() error { return e.checkpointsClaim(ctx) }); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "e2e: mlstate installed: %v\n", e.Took)
	return e, nil
}

// importImages builds every step's image for this machine's platform with
// the project's own builder (the names and tags the templates ship with)
// and imports them, with the examples' shell image, into the node.
func (e *mlEnv) importImages(ctx context.Context) error {
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	out := filepath.Join(e.c.Dir, "images")
	cmd := exec.CommandContext(ctx, "nice", "-n", "10", "go", "run", "./images/build",
		"-platforms", "linux/"+runtime.GOARCH, "-out", out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go run ./images/build: %w\n%s", err, b)
	}
	tars, err := filepath.Glob(filepath.Join(out, "*.tar"))
	if err != nil || len(tars) == 0 {
		return fmt.Errorf("images/build wrote no image archive into %s (%v)", out, err)
	}
	shell := filepath.Join(out, "shell.tar")
	if err := cluster.WriteBusyboxImage(ctx, "/bin/busybox", shell, nil, ExampleShellImage); err != nil {
		return err
	}
	for _, tar := range append(tars, shell) {
		if err := e.c.ImportImage(ctx, tar); err != nil {
			return fmt.Errorf("import %s: %w", filepath.Base(tar), err)
		}
	}
	return nil
}

// startStore runs the test MinIO on the node's address for the rest of the
// run (the cluster stops it), creates the store's bucket, and puts the
// store gate in front of it.
func (e *mlEnv) startStore(ctx context.Context) error {
	bin := os.Getenv("MLSTATE_MINIO_BIN")
	if bin == "" {
		bin = filepath.Join("..", "bin", "testenv", "minio", "minio")
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", e.c.NodeIP+":0")
	if err != nil {
		return err
	}
	e.minio = l.Addr().String()
	l.Close()
	e.user, e.key = "e2e-store", "e2e-store-password-not-secret"
	data := filepath.Join(e.c.Dir, "minio")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	if err := e.c.Run("minio", bin, []string{"MINIO_ROOT_USER=" + e.user, "MINIO_ROOT_PASSWORD=" + e.key,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1"},
		"server", "--quiet", "--address", e.minio, "--console-address", e.c.NodeIP+":0", data); err != nil {
		return err
	}
	if last, ok := testsupport.Poll(ctx, time.Minute, func(ctx context.Context) (bool, string) {
		if err := e.c.Err(); err != nil {
			return true, err.Error()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.minio+"/minio/health/live", nil)
		if err != nil {
			return false, err.Error()
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	}); !ok || e.c.Err() != nil {
		return fmt.Errorf("MinIO on %s: %s %v\n%s", e.minio, last, e.c.Err(), readTail(filepath.Join(e.c.Dir, "logs", "minio.log")))
	}
	mc, err := minio.New(e.minio, &minio.Options{Creds: credentials.NewStaticV4(e.user, e.key, "")})
	if err != nil {
		return err
	}
	if err := mc.MakeBucket(ctx, storeBucket, minio.MakeBucketOptions{}); err != nil {
		return fmt.Errorf("create bucket %s: %w", storeBucket, err)
	}
	// Pods reach the store through the gate (throttle_test.go), which
	// passes everything through until a test throttles it.
	if e.gate, err = startStoreGate(e.c.NodeIP, e.minio); err != nil {
		return err
	}
	e.store = "s3://" + storeBucket + "?endpoint=http://" + e.gate.addr
	return nil
}

// kanisterCRDs installs the Kanister CRDs (mlstate's test copies, the ones
// the stand-in is checked against) and the kanister namespace.
func (e *mlEnv) kanisterCRDs(ctx context.Context) error {
	crds, err := testsupport.KanisterCRDs()
	if err != nil {
		return err
	}
	var objs []*unstructured.Unstructured
	for _, crd := range crds {
		m, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(crd)
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetAPIVersion("apiextensions.k8s.io/v1")
		u.SetKind("CustomResourceDefinition")
		objs = append(objs, u)
	}
	// An attached cluster with Kanister installed has its CRDs already.
	if _, err := e.dyn.Resource(crdGVR).Get(ctx, "actionsets.cr.kanister.io", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if err := createCRDs(ctx, e.dyn, objs); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	return createNamespaceIfMissing(ctx, e.c.Client, kanisterNamespace)
}

func createNamespaceIfMissing(ctx context.Context, cs kubernetes.Interface, name string) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// applyTemplates runs `kubectl apply --server-side -k workflowtemplates/`
// in process, with the mlstate ConfigMap's store URL set to the node's
// MinIO (the one edit its comment asks for), then creates the store Secret.
func (e *mlEnv) applyTemplates(ctx context.Context) error {
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "workflowtemplates"))
	if err != nil {
		return fmt.Errorf("kustomize build workflowtemplates: %w", err)
	}
	if err := createNamespaceIfMissing(ctx, e.c.Client, mlNamespace); err != nil {
		return err
	}
	objs := make([]*unstructured.Unstructured, 0, len(rm.Resources()))
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "ConfigMap" && u.GetName() == "mlstate" {
			if err := unstructured.SetNestedField(u.Object, e.store, "data", "store"); err != nil {
				return err
			}
		}
		objs = append(objs, u)
	}
	if err := applyObjects(ctx, e.kube, objs); err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: storeSecret},
		StringData: map[string]string{"aws_access_key_id": e.user, "aws_secret_access_key": e.key},
	}
	_, err = e.c.Client.CoreV1().Secrets(mlNamespace).Create(ctx, secret, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = e.c.Client.CoreV1().Secrets(mlNamespace).Update(ctx, secret, metav1.UpdateOptions{})
	}
	return err
}

// checkpointsClaim creates the checkpoints PVC that the examples'
// non-root training step (uid 65532) writes.
func (e *mlEnv) checkpointsClaim(ctx context.Context) error {
	return e.createClaim(ctx, checkpointsPVC, 65532)
}

// seedCheckpoints replaces the checkpoints volume's content with files (as
// the training user, 65532), the state a snapshot should capture.
func (e *mlEnv) seedCheckpoints(t *testing.T, files map[string]string) {
	t.Helper()
	e.seedVolume(t, checkpointsPVC, 65532, files)
}

func describeFiles(m map[string]string) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "\n  %s: %q", n, m[n])
	}
	return b.String()
}

// createCRDs creates CRDs and waits until the API server serves them.
func createCRDs(ctx context.Context, dyn dynamic.Interface, objs []*unstructured.Unstructured) error {
	var names []string
	for _, u := range objs {
		if _, err := dyn.Resource(crdGVR).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create CRD %s: %w", u.GetName(), err)
		}
		names = append(names, u.GetName())
	}
	if last, ok := testsupport.Poll(ctx, time.Minute, func(ctx context.Context) (bool, string) {
		for _, n := range names {
			u, err := dyn.Resource(crdGVR).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			established := false
			for _, cd := range conds {
				m, _ := cd.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					established = true
				}
			}
			if !established {
				return false, n + " not Established"
			}
		}
		return true, ""
	}); !ok {
		return fmt.Errorf("CRDs: %s", last)
	}
	return nil
}

// applyObjects server-side applies objects with strict field validation,
// as `kubectl apply --server-side` does; namespaces must exist.
func applyObjects(ctx context.Context, k *testsupport.KubeEnv, objs []*unstructured.Unstructured) error {
	dc, err := discovery.NewDiscoveryClientForConfig(k.Config)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	force := true
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s %s: no such resource on the API server: %w", gvk.Kind, obj.GetName(), err)
		}
		var ri dynamic.ResourceInterface = k.Dynamic.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = k.Dynamic.Resource(m.Resource).Namespace(obj.GetNamespace())
		}
		body, err := yaml.Marshal(obj.Object)
		if err != nil {
			return err
		}
		if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyYAMLPatchType, body, metav1.PatchOptions{
			FieldManager: "mlstate-e2e", Force: &force, FieldValidation: metav1.FieldValidationStrict,
		}); err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
		}
	}
	return nil
}
