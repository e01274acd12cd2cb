//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/mlstate/mlstate/e2e/cluster"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// ArgoExecImage is the executor image the controller puts in every
// workflow pod (init and wait containers, and the emissary in the main one).
const ArgoExecImage = "mlstate.test/argoexec:e2e"

var (
	workflowsGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "workflows"}
	crdGVR       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

	argoOnce sync.Once
	argoErr  error
)

// needArgo installs Argo's CRDs and runs its workflow-controller on the
// host against the cluster, once per test binary.
func needArgo(t *testing.T) (*cluster.Cluster, dynamic.Interface) {
	t.Helper()
	c := needCluster(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Attached() {
		// The user installed Argo; its Workflow CRD must be served.
		if _, err := dyn.Resource(crdGVR).Get(t.Context(), "workflows.argoproj.io", metav1.GetOptions{}); err != nil {
			t.Fatalf("the attached cluster has no Argo Workflows (CRD workflows.argoproj.io: %v): install Argo Workflows v3.7 there first (e2e/README.md)", err)
		}
		return c, dyn
	}
	for _, name := range []string{"workflow-controller", "argoexec"} {
		if _, err := os.Stat(filepath.Join("..", "bin", "cluster", "argo", name)); err != nil {
			msg := fmt.Sprintf("Argo's %s is not built (%v): run `make cluster-bins`", name, err)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	argoOnce.Do(func() { argoErr = startArgo(context.Background(), c, dyn) })
	if argoErr != nil {
		t.Fatalf("start Argo: %v", argoErr)
	}
	return c, dyn
}

func startArgo(ctx context.Context, c *cluster.Cluster, dyn dynamic.Interface) error {
	bins, err := filepath.Abs(filepath.Join("..", "bin", "cluster", "argo"))
	if err != nil {
		return err
	}
	archive := filepath.Join(c.Dir, "argoexec.tar")
	if err := cluster.WriteBinaryImage(ArgoExecImage, filepath.Join(bins, "argoexec"), archive); err != nil {
		return fmt.Errorf("argoexec image: %w", err)
	}
	if err := c.ImportImage(ctx, archive); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/argoproj/argo-workflows/v3").Output()
	if err != nil {
		return fmt.Errorf("find Argo's module (for its CRDs): %w", err)
	}
	crdDir := filepath.Join(strings.TrimSpace(string(out)), "manifests", "base", "crds", "minimal")
	files, err := filepath.Glob(filepath.Join(crdDir, "argoproj.io_*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no Argo CRDs in %s (%v)", crdDir, err)
	}
	var crds []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		crds = append(crds, u)
	}
	if err := createCRDs(ctx, dyn, crds); err != nil {
		return fmt.Errorf("Argo's %w", err)
	}
	cs := c.Client
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argo"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := cs.CoreV1().ConfigMaps("argo").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "workflow-controller-configmap"},
		Data: map[string]string{
			"executor": "imagePullPolicy: Never\n",
			// The default of every main container: images come from the
			// node only (the step images, the examples' busybox), so a
			// missing one fails at once instead of trying a registry.
			"mainContainer": "imagePullPolicy: Never\n",
		},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	return c.Run("workflow-controller", filepath.Join(bins, "workflow-controller"),
		[]string{"LEADER_ELECTION_DISABLE=true", "ARGO_NAMESPACE=argo"},
		"--kubeconfig", c.Kubeconfig, "--namespace", "argo",
		"--configmap", "workflow-controller-configmap",
		"--executor-image", ArgoExecImage, "--executor-image-pull-policy", "Never",
		"--loglevel", "info")
}

// executorRBAC gives sa what Argo's executor needs in ns: writing its
// WorkflowTaskResults.
func executorRBAC(t *testing.T, c *cluster.Cluster, ns, sa string) {
	t.Helper()
	ctx := t.Context()
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "argo-executor"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"argoproj.io"}, Resources: []string{"workflowtaskresults"}, Verbs: []string{"create", "patch"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "argo-executor"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "argo-executor"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestArgoWorkflowSucceeds runs a one-step Workflow through Argo's real
// controller and executor: a pod with Argo's init and wait containers around
// a busybox main container, its output collected as a WorkflowTaskResult.
func TestArgoWorkflowSucceeds(t *testing.T) {
	c, dyn := needArgo(t)
	skipAttached(t, c, "the busybox image imported there")
	ns := createNamespace(t, c.Client, "e2e-argo")
	executorRBAC(t, c, ns, "runner")
	wf := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(fmt.Sprintf(`
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: hello-}
spec:
  entrypoint: main
  serviceAccountName: runner
  templates:
  - name: main
    outputs:
      parameters:
      - name: greeting
        valueFrom: {path: /tmp/greeting}
    container:
      image: %s
      imagePullPolicy: Never
      command: [sh, -c, "echo hello from the node > /tmp/greeting"]
`, cluster.BusyboxImage)), &wf.Object); err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	got, err := dyn.Resource(workflowsGVR).Namespace(ns).Create(t.Context(), wf, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	final := waitWorkflow(t, dyn, ns, got.GetName(), 5*time.Minute)
	phase, _, _ := unstructured.NestedString(final.Object, "status", "phase")
	t.Logf("workflow %s: created → %s in %s", got.GetName(), phase, time.Since(created).Round(time.Millisecond))
	if phase != "Succeeded" {
		t.Fatalf("workflow ended %s: %s", phase, workflowReport(final))
	}
	nodes, _, _ := unstructured.NestedMap(final.Object, "status", "nodes")
	found := false
	for _, n := range nodes {
		params, _, _ := unstructured.NestedSlice(n.(map[string]any), "outputs", "parameters")
		for _, p := range params {
			if m, _ := p.(map[string]any); m["name"] == "greeting" && m["value"] == "hello from the node" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("output parameter greeting not collected: %s", workflowReport(final))
	}
}

func waitWorkflow(t *testing.T, dyn dynamic.Interface, ns, name string, timeout time.Duration) *unstructured.Unstructured {
	t.Helper()
	var wf *unstructured.Unstructured
	last, ok := testsupport.Poll(t.Context(), timeout, func(ctx context.Context) (bool, string) {
		u, err := dyn.Resource(workflowsGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		wf = u
		if err := clus.Err(); err != nil {
			return true, err.Error()
		}
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		return phase == "Succeeded" || phase == "Failed" || phase == "Error", workflowReport(u)
	})
	if err := clus.Err(); err != nil {
		t.Fatalf("the local cluster broke: %v", err)
	}
	if !ok {
		pods, _ := clus.Client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
		var b strings.Builder
		for i := range pods.Items {
			b.WriteString("\n" + podReport(t.Context(), clus.Client, &pods.Items[i]))
		}
		t.Fatalf("workflow %s/%s did not finish in %s: %s\npods:%s\nworkflow-controller log:\n%s", ns, name, timeout, last, b.String(),
			readTail(filepath.Join(clus.Dir, "logs", "workflow-controller.log")))
	}
	return wf
}

// workflowReport is a Workflow's phase, message and node states.
func workflowReport(u *unstructured.Unstructured) string {
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	msg, _, _ := unstructured.NestedString(u.Object, "status", "message")
	var b strings.Builder
	fmt.Fprintf(&b, "phase %q message %q", phase, msg)
	nodes, _, _ := unstructured.NestedMap(u.Object, "status", "nodes")
	for _, n := range nodes {
		m := n.(map[string]any)
		fmt.Fprintf(&b, "\n  node %v %v: %v", m["displayName"], m["phase"], m["message"])
	}
	return b.String()
}
