package workflowtemplates

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/mlstate/mlstate/pkg/testsupport"
)

func TestMain(m *testing.M) { testsupport.Main(m) }

// kustomizeBuild runs `kustomize build dir` in process.
func kustomizeBuild(t *testing.T, dir string) []doc {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(repoRoot(t), dir)
	docs, err := splitDocs("kustomize build "+rel, out)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func TestKustomizeBuild(t *testing.T) {
	docs := kustomizeBuild(t, ".")
	kinds := map[string]int{}
	for _, d := range docs {
		kinds[d.kind()]++
	}
	for _, k := range []string{"WorkflowTemplate", "ServiceAccount", "Role", "RoleBinding", "Blueprint"} {
		if kinds[k] == 0 {
			t.Errorf("kustomize build installs no %s (got %v)", k, kinds)
		}
	}
	if kinds["ClusterRole"]+kinds["ClusterRoleBinding"] > 0 {
		t.Error("the RBAC must stay namespaced: found a ClusterRole or ClusterRoleBinding")
	}
	if errs := lintArgo(docs); len(errs) > 0 {
		t.Errorf("kustomize output fails Argo's validator: %v", errs)
	}
	cluster := kustomizeBuild(t, "cluster")
	if len(cluster) != 1 || cluster[0].kind() != "ClusterWorkflowTemplate" {
		t.Errorf("cluster/ should build exactly the ClusterWorkflowTemplate, got %d objects", len(cluster))
	}
}

// An overlay's `images:` must reach every step image of the templates.
func TestKustomizeImageOverride(t *testing.T) {
	dir := t.TempDir()
	abs, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	base, err := filepath.Rel(dir, abs) // kustomize wants a relative base
	if err != nil {
		t.Fatal(err)
	}
	overlay := "resources: [" + base + "]\nimages:\n"
	for _, step := range []string{"preflight", "snapshot", "restore", "stage", "catalog", "guard"} {
		overlay += "- {name: ghcr.io/mlstate/" + step + ", newName: registry.example.com/ml/" + step + ", newTag: v9.9.9}\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(overlay), 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, iv := range invocations(kustomizeBuild(t, dir)) {
		if strings.HasPrefix(iv.image, imagePrefix) {
			t.Errorf("%s: image %s was not rewritten by the overlay", iv, iv.image)
		}
		if strings.HasPrefix(iv.image, "registry.example.com/ml/") {
			n++
			if !strings.HasSuffix(iv.image, ":v9.9.9") {
				t.Errorf("%s: image %s lost the overlay's tag", iv, iv.image)
			}
		}
	}
	if n == 0 {
		t.Error("no image was rewritten")
	}
}

// TestServerSideApply applies every manifest, and the kustomize output, to
// a real API server (with the Argo and Kanister CRDs) with strict field
// validation, as `kubectl apply --server-side` would.
func TestServerSideApply(t *testing.T) {
	k := testsupport.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	docs := loadDocs(t)
	docs = append(docs, kustomizeBuild(t, ".")...)
	docs = append(docs, kustomizeBuild(t, "cluster")...)
	n := 0
	for _, d := range docs {
		if !d.isManifest() {
			continue
		}
		n++
		if err := applyDoc(ctx, t, k, d); err != nil {
			t.Errorf("%s: %v", d.path, err)
		}
	}
	t.Logf("applied %d objects", n)
}

// mappers caches one discovery-backed REST mapper per API server.
var mappers sync.Map // *testsupport.KubeEnv -> meta.RESTMapper

// applyDoc server-side applies one object (in its namespace, created if
// needed) with strict field validation.
func applyDoc(ctx context.Context, t *testing.T, k *testsupport.KubeEnv, d doc) error {
	t.Helper()
	mapper, ok := mappers.Load(k)
	if !ok {
		dc, err := discovery.NewDiscoveryClientForConfig(k.Config)
		if err != nil {
			t.Fatal(err)
		}
		mapper, _ = mappers.LoadOrStore(k, restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)))
	}
	obj := &unstructured.Unstructured{Object: deepCopy(d.obj).(map[string]any)}
	if obj.GetName() == "" && obj.GetGenerateName() != "" {
		obj.SetName(obj.GetGenerateName() + "apply-test") // apply needs a name
	}
	gvk := obj.GroupVersionKind()
	m, err := mapper.(meta.RESTMapper).RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s %s: no such resource on the API server: %w", gvk.Kind, obj.GetName(), err)
	}
	var ri interface {
		Patch(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) (*unstructured.Unstructured, error)
	} = k.Dynamic.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = defaultNamespace
			obj.SetNamespace(ns)
		}
		ensureNamespace(ctx, t, k, ns)
		ri = k.Dynamic.Resource(m.Resource).Namespace(ns)
	}
	if err := apply(ctx, ri, obj); err != nil {
		return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	return nil
}

func apply(ctx context.Context, ri interface {
	Patch(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) (*unstructured.Unstructured, error)
}, obj *unstructured.Unstructured) error {
	body, err := yaml.Marshal(obj.Object)
	if err != nil {
		return err
	}
	force := true
	_, err = ri.Patch(ctx, obj.GetName(), types.ApplyYAMLPatchType, body, metav1.PatchOptions{
		FieldManager:    "mlstate-templates-test",
		Force:           &force,
		FieldValidation: metav1.FieldValidationStrict,
	})
	return err
}

func ensureNamespace(ctx context.Context, t *testing.T, k *testsupport.KubeEnv, name string) {
	t.Helper()
	_, err := k.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}
