//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/testsupport"
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
	if after := e.volumeFiles(t, checkpointsPVC); !maps.Equal(after, before) {
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
	if after := e.volumeFiles(t, checkpointsPVC); !maps.Equal(after, before) {
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

// TestSnapshotRetryAdoptsItsActionSet: the store throttles the write of
// the restore point (503 SlowDown through the store gate), the one store
// write a snapshot makes after its backup ActionSet completed, until the
// snapshot's first attempt has failed with exit code 20 (transient). The
// template's retryStrategy runs the step again, and the retry adopts the
// completed ActionSet instead of backing the volume up again: the workflow
// has one backup ActionSet, the retry records the restore point with it,
// and the exit hook (fail=true) restores the volume from that point.
func TestSnapshotRetryAdoptsItsActionSet(t *testing.T) {
	e := needMLState(t)
	skipAttached(t, e.c, "the store gate beside the node")
	standIn(t, e)
	before := map[string]string{"progress.txt": "epoch 1\n", "model.bin": "weights after epoch 1\n"}
	e.seedCheckpoints(t, before)

	e.gate.throttle.Store(true)
	t.Cleanup(func() { e.gate.throttle.Store(false) })
	name := submitExample(t, e, "guarded-training.yaml", map[string]string{"fail": "true"})
	testsupport.Eventually(t, workflowTimeout, "the snapshot's first attempt to fail", func(ctx context.Context) (bool, string) {
		wf, err := e.dyn.Resource(workflowsGVR).Namespace(mlNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if p := nodePhase(wf, "snapshot(0)"); p == "Failed" || p == "Error" {
			return true, ""
		}
		if p, _, _ := unstructured.NestedString(wf.Object, "status", "phase"); p == "Failed" || p == "Error" || p == "Succeeded" {
			t.Fatalf("the workflow ended before its snapshot failed once: %s", workflowLogs(ctx, e, wf))
		}
		return false, workflowReport(wf)
	})
	refused := e.gate.refused.Load()
	e.gate.throttle.Store(false)

	wf := waitWorkflow(t, e.dyn, mlNamespace, name, workflowTimeout)
	if phase, _, _ := unstructured.NestedString(wf.Object, "status", "phase"); phase != "Failed" {
		t.Fatalf("workflow ended %q, want Failed (fail=true): %s", phase, workflowLogs(t.Context(), e, wf))
	}
	if refused == 0 {
		t.Fatalf("the store gate refused no restore-point write, so the snapshot failed for another reason: %s", workflowLogs(t.Context(), e, wf))
	}
	attempts := retryAttempts(wf, "snapshot")
	if len(attempts) < 2 {
		t.Fatalf("snapshot ran %d attempt(s), want a retry: %s", len(attempts), workflowReport(wf))
	}
	for i, a := range attempts {
		last := i == len(attempts)-1
		switch {
		case !last && a.exitCode != "20":
			t.Errorf("attempt %d exited %q, want 20 (transient, what the retryStrategy retries): %s", i, a.exitCode, a.message)
		case last && a.phase != "Succeeded":
			t.Fatalf("the last snapshot attempt ended %s (exit %s): %s", a.phase, a.exitCode, workflowLogs(t.Context(), e, wf))
		}
	}
	t.Logf("snapshot attempts: %+v; restore-point writes refused: %d", attempts, refused)

	backups := workflowActionSets(t, e, string(wf.GetUID()), "backup")
	if len(backups) != 1 {
		t.Fatalf("backup ActionSets of the workflow: %v, want exactly one (the retry adopts the first attempt's)", backups)
	}
	last := fmt.Sprintf("snapshot(%d)", len(attempts)-1)
	if got, want := nodeOutput(wf, last, "actionsets"), kanisterNamespace+"/"+backups[0]; got != want {
		t.Errorf("the retried snapshot reports ActionSets %q, want the adopted %q", got, want)
	}
	point := nodeOutput(wf, last, "restore-point")
	if point == "" {
		t.Fatalf("the retried snapshot recorded no restore point: %s", workflowReport(wf))
	}
	// The restore template has a retryStrategy too: its pods are the
	// attempts "<hook>(N)".
	hook := retryAttempts(wf, name+".onExit")
	if len(hook) == 0 || hook[len(hook)-1].phase != "Succeeded" {
		t.Fatalf("the exit hook's restore attempts: %+v: %s", hook, workflowLogs(t.Context(), e, wf))
	}
	if got := nodeOutput(wf, fmt.Sprintf("%s.onExit(%d)", name, len(hook)-1), "restore-point"); got != point {
		t.Errorf("the exit hook restored %q, want the retried snapshot's %q", got, point)
	}
	if after := e.volumeFiles(t, checkpointsPVC); !maps.Equal(after, before) {
		t.Fatalf("after the restore the volume holds:%s\nwant the snapshot's:%s", describeFiles(after), describeFiles(before))
	}
}

// attempt is one try of a step with a retryStrategy.
type attempt struct{ phase, exitCode, message string }

// retryAttempts lists the tries of the step with that display name, in
// order: Argo names them "<step>(0)", "<step>(1)", ...
func retryAttempts(wf *unstructured.Unstructured, step string) []attempt {
	nodes, _, _ := unstructured.NestedMap(wf.Object, "status", "nodes")
	byName := map[string]attempt{}
	for _, n := range nodes {
		m := n.(map[string]any)
		dn, _ := m["displayName"].(string)
		if !strings.HasPrefix(dn, step+"(") || m["type"] != "Pod" {
			continue
		}
		var a attempt
		a.phase, _ = m["phase"].(string)
		a.message, _ = m["message"].(string)
		a.exitCode, _, _ = unstructured.NestedString(m, "outputs", "exitCode")
		byName[dn] = a
	}
	out := make([]attempt, 0, len(byName))
	for i := 0; ; i++ {
		a, ok := byName[fmt.Sprintf("%s(%d)", step, i)]
		if !ok {
			return out
		}
		out = append(out, a)
	}
}

// workflowActionSets names the ActionSets in the Kanister namespace that
// the workflow's steps created for action (by mlstate's labels).
func workflowActionSets(t *testing.T, e *mlEnv, uid, action string) []string {
	t.Helper()
	sel := kanister.LabelWorkflowUID + "=" + uid + "," + kanister.LabelAction + "=" + action
	list, err := e.dyn.Resource(actionSetsGVR).Namespace(kanisterNamespace).List(t.Context(), metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, as := range list.Items {
		names = append(names, as.GetName())
	}
	return names
}
