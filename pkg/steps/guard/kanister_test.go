package guard_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// TestGuardKanister: guard backs up a PVC through Kanister (the test-only
// stand-in controller) and stages a workspace; the command fails; guard runs
// the Blueprint's restore action with the backup's artifacts and pulls the
// workspace back, then exits with the command's status.
func TestGuardKanister(t *testing.T) {
	ctx := context.Background()
	f := testsupport.NewKanisterFixture(t)
	k, ns := f.Kube, f.Namespace
	ws := testsupport.Workspace(t)
	before := testsupport.Fingerprint(t, ws)
	start := time.Now()
	r := runGuard(t, "--store", fileStore(t), "--pipeline", "train", "--stage", ws, "--outputs-dir", t.TempDir(),
		"--object", f.Object(), "--blueprint", testsupport.FixtureBlueprint,
		"--kubeconfig", testsupport.Kubeconfig(t, k.Config), "--kanister-namespace", ns,
		"--workflow-uid", "uid-guard-1", "--node-id", "train-node-1",
		"--", "sh", "-c", vandal, "sh", ws, "4")
	if r.code != 4 || r.values["restored"] != true {
		t.Fatalf("exit %d, result %v; want 4 and restored", r.code, r.values)
	}
	testsupport.SameFingerprint(t, before, testsupport.Fingerprint(t, ws))
	t.Logf("guard with a Kanister backup and restore took %s", time.Since(start))

	list, err := k.Dynamic.Resource(kanister.ActionSetGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	var restoreTag string
	for _, as := range list.Items {
		actions, _, _ := unstructured.NestedSlice(as.Object, "spec", "actions")
		a, _ := actions[0].(map[string]any)
		state, _, _ := unstructured.NestedString(as.Object, "status", "state")
		states[a["name"].(string)] = state
		if a["name"] == "restore" {
			restoreTag, _, _ = unstructured.NestedString(a, "artifacts", "snap", "keyValue", "backupTag")
		}
	}
	if states["backup"] != kanister.StateComplete || states["restore"] != kanister.StateComplete || len(list.Items) != 2 {
		t.Fatalf("ActionSets %v, want a complete backup and a complete restore", states)
	}
	if restoreTag == "" {
		t.Fatal("the restore ActionSet did not get the backup's artifacts")
	}
}
