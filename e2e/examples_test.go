//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/mlstate/mlstate/e2e/cluster"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// workflowTimeout bounds one example's run: a handful of pods, each a few
// seconds on an idle node, far more on a loaded 2-core one.
const workflowTimeout = 8 * time.Minute

// submitExample creates the Workflow of examples/argo/<file> as `argo
// submit -p` would: the file as it is, with only the given parameters set.
func submitExample(t *testing.T, e *mlEnv, file string, params map[string]string) string {
	t.Helper()
	return submitExampleEdited(t, e, file, params, nil)
}

// submitExampleEdited is submitExample with edit applied to the Workflow
// first (for what a test cannot honour, said where it is called).
func submitExampleEdited(t *testing.T, e *mlEnv, file string, params map[string]string, edit func(*unstructured.Unstructured)) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", "argo", file))
	if err != nil {
		t.Fatal(err)
	}
	wf := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &wf.Object); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if wf.GetKind() != "Workflow" {
		t.Fatalf("%s holds a %s, not a Workflow", file, wf.GetKind())
	}
	args, _, _ := unstructured.NestedSlice(wf.Object, "spec", "arguments", "parameters")
	left := maps.Clone(params)
	for _, a := range args {
		m := a.(map[string]any)
		if v, ok := left[m["name"].(string)]; ok {
			m["value"] = v
			delete(left, m["name"].(string))
		}
	}
	if len(left) > 0 {
		t.Fatalf("%s has no parameters %v (argo submit -p would refuse them)", file, left)
	}
	if err := unstructured.SetNestedSlice(wf.Object, args, "spec", "arguments", "parameters"); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(wf)
	}
	got, err := e.dyn.Resource(workflowsGVR).Namespace(wf.GetNamespace()).Create(t.Context(), wf, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("submit %s: %v", file, err)
	}
	t.Logf("submitted %s as %s/%s with %v", file, got.GetNamespace(), got.GetName(), params)
	return got.GetName()
}

// standIn runs the test-only Kanister controller against the cluster for
// the test's duration. Its controller Deployment's pod runs on the node
// (a busybox that sleeps), where the steps look for Kanister's controller,
// and the pods of its Kanister functions run there too (nodePods).
//
// On an attached cluster with MLSTATE_E2E_KANISTER=installed, the
// cluster's own Kanister runs the actions and no stand-in starts.
func standIn(t *testing.T, e *mlEnv) {
	t.Helper()
	ctr := corev1.Container{Image: cluster.BusyboxImage, ImagePullPolicy: corev1.PullNever, Command: []string{"sleep", "2147483647"}}
	if e.c.Attached() {
		if os.Getenv("MLSTATE_E2E_KANISTER") == "installed" {
			return
		}
		ctr.Image, ctr.ImagePullPolicy = ExampleShellImage, corev1.PullIfNotPresent
	}
	s := testsupport.StartKanisterStandInOnNode(t, e.kube, kanisterNamespace, ctr)
	// PrepareData and KubeTask (the mlstate-stage Blueprint) run real pods
	// of the stage image on the node, with the PVC mounted.
	s.SetPodRunner(nodePods{cs: e.c.Client, timeout: 5 * time.Minute})
}

// nodePhase is the phase of the workflow's node with that display name
// ("" when there is none).
func nodePhase(wf *unstructured.Unstructured, displayName string) string {
	nodes, _, _ := unstructured.NestedMap(wf.Object, "status", "nodes")
	for _, n := range nodes {
		m := n.(map[string]any)
		if m["displayName"] == displayName {
			p, _ := m["phase"].(string)
			return p
		}
	}
	return ""
}

// TestGuardedTraining is the examples' promise, for guarded-training.yaml
// and its DAG variant: submitted with fail=true, the workflow snapshots the
// checkpoints PVC (mlstate-stage: a real pod of the stage image pushes the
// volume to the store), its training step corrupts the volume and fails,
// and the exit hook restores the volume to exactly what it held at the
// snapshot: the corrupted file's content back, the file the failed run
// added gone. With fail=false the run succeeds and the hook leaves the
// trained volume alone.
func TestGuardedTraining(t *testing.T) {
	for _, tc := range []struct {
		file  string
		fail  bool
		steps []string // that must succeed
	}{
		{"guarded-training.yaml", true, []string{"snapshot"}},
		{"guarded-training-dag.yaml", true, []string{"preflight", "snapshot"}},
		{"guarded-training.yaml", false, []string{"snapshot", "train"}},
	} {
		t.Run(fmt.Sprintf("%s/fail=%v", tc.file, tc.fail), func(t *testing.T) {
			e := needMLState(t)
			standIn(t, e)
			before := map[string]string{"progress.txt": "epoch 1\n", "model.bin": "weights after epoch 1\n"}
			e.seedCheckpoints(t, before)

			start := time.Now()
			name := submitExample(t, e, tc.file, map[string]string{"fail": fmt.Sprint(tc.fail)})
			wf := waitWorkflow(t, e.dyn, mlNamespace, name, workflowTimeout)
			phase, _, _ := unstructured.NestedString(wf.Object, "status", "phase")
			t.Logf("workflow %s: %s in %s", name, phase, time.Since(start).Round(time.Millisecond))
			want := map[bool]string{true: "Failed", false: "Succeeded"}[tc.fail]
			if phase != want {
				t.Fatalf("workflow ended %q, want %s: %s", phase, want, workflowLogs(t.Context(), e, wf))
			}
			for _, step := range append(tc.steps, name+".onExit") {
				if p := nodePhase(wf, step); p != "Succeeded" {
					t.Fatalf("step %s ended %q: %s", step, p, workflowLogs(t.Context(), e, wf))
				}
			}
			after := e.volumeFiles(t, checkpointsPVC)
			if tc.fail {
				if restored := stepOutput(wf, name+".onExit", "restored"); restored != "true" {
					t.Errorf("the exit hook of a failed run reports restored = %q, want true", restored)
				}
				if !maps.Equal(after, before) {
					t.Fatalf("after the restore the checkpoints volume holds:%s\nwant exactly the snapshot's:%s", describeFiles(after), describeFiles(before))
				}
				return
			}
			// The restore template retries (retryStrategy), so its pod is
			// the hook's last attempt.
			if restored := stepOutput(wf, name+".onExit", "restored"); restored != "false" {
				t.Errorf("the exit hook of a successful run reports restored = %q, want false: %s", restored, workflowReport(wf))
			}
			if !strings.HasPrefix(after["progress.txt"], "epoch 1\nepoch ") || after["model.bin"] != before["model.bin"] {
				t.Errorf("after a successful run the volume should hold the training's progress:%s", describeFiles(after))
			}
		})
	}
}

// workflowLogs is the report of a workflow with the tail of the main
// container's log of each of its pods that did not succeed, for failures.
func workflowLogs(ctx context.Context, e *mlEnv, wf *unstructured.Unstructured) string {
	var b strings.Builder
	b.WriteString(workflowReport(wf))
	pods, err := e.c.Client.CoreV1().Pods(wf.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: "workflows.argoproj.io/workflow=" + wf.GetName()})
	if err != nil {
		return b.String() + "\nlist pods: " + err.Error()
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		raw, err := e.c.Client.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: "main", TailLines: ptr(int64(30))}).DoRaw(ctx)
		if err != nil {
			raw = []byte(err.Error())
		}
		fmt.Fprintf(&b, "\npod %s (%s), main container's log:\n%s", p.Name, p.Status.Phase, raw)
	}
	return b.String()
}
