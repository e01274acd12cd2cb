//go:build e2e

package e2e

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var actionSetsGVR = schema.GroupVersionResource{Group: "cr.kanister.io", Version: "v1alpha1", Resource: "actionsets"}

// TestArgoRetryRestoresAgain: a failed guarded-training run is restored;
// `argo retry` re-runs its failed training, which fails again, and the
// exit hook restores again, with a new restore ActionSet (it does not
// adopt the first run's completed one), so the volume is the snapshot's
// once more.
func TestArgoRetryRestoresAgain(t *testing.T) {
	e := needMLState(t)
	standIn(t, e)
	before := map[string]string{"progress.txt": "epoch 1\n", "model.bin": "weights after epoch 1\n"}
	e.seedCheckpoints(t, before)

	name := submitExample(t, e, "guarded-training.yaml", map[string]string{"fail": "true"})
	wf := waitWorkflow(t, e.dyn, mlNamespace, name, workflowTimeout)
	if phase, _, _ := unstructured.NestedString(wf.Object, "status", "phase"); phase != "Failed" {
		t.Fatalf("first run ended %q, want Failed: %s", phase, workflowLogs(t.Context(), e, wf))
	}
	if after := volumeFiles(t, e.checkpoints); !maps.Equal(after, before) {
		t.Fatalf("first run: the volume holds:%s\nwant the snapshot's:%s", describeFiles(after), describeFiles(before))
	}
	restores := restoreActionSets(t, e)

	start := time.Now()
	argoRetry(t, e, mlNamespace, name)
	wf = waitWorkflow(t, e.dyn, mlNamespace, name, workflowTimeout)
	phase, _, _ := unstructured.NestedString(wf.Object, "status", "phase")
	t.Logf("retried workflow %s: %s in %s", name, phase, time.Since(start).Round(time.Millisecond))
	if phase != "Failed" {
		t.Fatalf("the retried run ended %q, want Failed (the training fails again): %s", phase, workflowLogs(t.Context(), e, wf))
	}
	if p := nodePhase(wf, name+".onExit"); p != "Succeeded" {
		t.Fatalf("the retried run's exit hook ended %q: %s", p, workflowLogs(t.Context(), e, wf))
	}
	if got := restoreActionSets(t, e); got != restores+1 {
		t.Errorf("restore ActionSets: %d after the first run, %d after the retry; want one more", restores, got)
	}
	if after := volumeFiles(t, e.checkpoints); !maps.Equal(after, before) {
		t.Fatalf("after the retry the volume holds:%s\nwant the snapshot's:%s", describeFiles(after), describeFiles(before))
	}
}

// argoRetry runs `argo retry -n ns name`: bin/cluster/argo/argo-retry,
// Argo's own FormulateRetryWorkflow with the pod deletions and update of
// the Argo server's RetryWorkflow (hack/tools/argo/retry).
func argoRetry(t *testing.T, e *mlEnv, ns, name string) {
	t.Helper()
	bin := filepath.Join("..", "bin", "cluster", "argo", "argo-retry")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%v: run `make cluster-bins`", err)
	}
	out, err := exec.CommandContext(t.Context(), bin, "-kubeconfig", e.c.Kubeconfig, "-n", ns, name).CombinedOutput()
	if err != nil {
		t.Fatalf("argo retry -n %s %s: %v\n%s", ns, name, err, out)
	}
}

// restoreActionSets counts the ActionSets in the Kanister namespace that
// run a restore action.
func restoreActionSets(t *testing.T, e *mlEnv) int {
	t.Helper()
	list, err := e.dyn.Resource(actionSetsGVR).Namespace(kanisterNamespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, as := range list.Items {
		actions, _, _ := unstructured.NestedSlice(as.Object, "spec", "actions")
		for _, a := range actions {
			if m, _ := a.(map[string]any); m["name"] == "restore" {
				n++
				break
			}
		}
	}
	return n
}
