//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlstate/mlstate/e2e/cluster"
)

// TrainImage stands for the user's training image of guard-command.yaml:
// busybox with a `python` that, like a training run gone wrong, overwrites
// a checkpoint, leaves a partial one and crashes.
const TrainImage = "mlstate.test/train:e2e"

const crashingTrainer = `#!/bin/sh
# python train.py --epochs N --checkpoint-dir DIR, crashing mid-epoch.
dir=/workspace/ckpt
while [ $# -gt 0 ]; do
	case "$1" in --checkpoint-dir) dir=$2; shift ;; esac
	shift
done
echo garbage > "$dir/model.pt"
echo torn > "$dir/epoch-3.partial"
echo "RuntimeError: CUDA error: an illegal memory access was encountered" >&2
exit 1
`

// TestGuardCommandFailRestores submits guard-command.yaml with a training
// image whose command corrupts the workspace and fails: guard stages
// /workspace first, runs the command, and puts the workspace back byte for
// byte. The example's `resources` argument (8 CPUs, 32 GiB, a GPU) is the
// one thing dropped, so the template's default applies (1 CPU, 4 GiB): no
// node of this size can schedule the example's. Its toleration,
// its extra read-only dataset volume, /dev/shm size, user 1000 and grace
// period are kept.
func TestGuardCommandFailRestores(t *testing.T) {
	e := needMLState(t)
	skipAttached(t, e.c, "a training image imported there")
	archive := filepath.Join(t.TempDir(), "train.tar")
	if err := cluster.WriteBusyboxImage(t.Context(), "/bin/busybox", archive, map[string]string{"python": crashingTrainer}, TrainImage); err != nil {
		t.Fatal(err)
	}
	if err := e.c.ImportImage(t.Context(), archive); err != nil {
		t.Fatal(err)
	}
	e.claim(t, "workspace", 1000)
	e.claim(t, "imagenet", 1000)
	before := map[string]string{"train.py": "print('train')\n", "ckpt/model.pt": "weights after epoch 2\n", "ckpt/epoch-2.done": "ok\n"}
	e.seedVolume(t, "workspace", 1000, before)

	start := time.Now()
	name := submitExampleEdited(t, e, "guard-command.yaml", map[string]string{"image": TrainImage}, func(wf *unstructured.Unstructured) {
		dropStepArgument(t, wf, "train", "resources")
	})
	wf := waitWorkflow(t, e.dyn, mlNamespace, name, workflowTimeout)
	phase, _, _ := unstructured.NestedString(wf.Object, "status", "phase")
	t.Logf("workflow %s: %s in %s", name, phase, time.Since(start).Round(time.Millisecond))
	if phase != "Failed" {
		t.Fatalf("the training command failed, so the workflow should fail; it ended %q: %s", phase, workflowLogs(t.Context(), e, wf))
	}
	if got := nodeOutput(wf, "train", "restored"); got != "true" {
		t.Errorf("guard's output restored = %q, want true: %s", got, workflowLogs(t.Context(), e, wf))
	}
	if got := nodeOutput(wf, "train", "exit-code"); got != "1" {
		t.Errorf("guard's output exit-code = %q, want the command's 1", got)
	}
	after := e.volumeFiles(t, "workspace")
	if !maps.Equal(after, before) {
		t.Fatalf("after guard's restore the workspace holds:%s\nwant exactly what it held before:%s", describeFiles(after), describeFiles(before))
	}
}

// dropStepArgument removes the argument name from the steps named step of
// every template (an example's argument a test cannot honour). It edits
// the object's own maps: unstructured.Nested* would return copies.
func dropStepArgument(t *testing.T, wf *unstructured.Unstructured, step, name string) {
	t.Helper()
	dropped := 0
	spec, _ := wf.Object["spec"].(map[string]any)
	templates, _ := spec["templates"].([]any)
	for _, tpl := range templates {
		groups, _ := tpl.(map[string]any)["steps"].([]any)
		for _, g := range groups {
			for _, s := range g.([]any) {
				sm := s.(map[string]any)
				if sm["name"] != step {
					continue
				}
				args, _ := sm["arguments"].(map[string]any)
				params, _ := args["parameters"].([]any)
				var kept []any
				for _, p := range params {
					if p.(map[string]any)["name"] == name {
						dropped++
						continue
					}
					kept = append(kept, p)
				}
				args["parameters"] = kept
			}
		}
	}
	if dropped == 0 {
		t.Fatalf("the example has no argument %s in step %s any more: update the test", name, step)
	}
}

// nodeOutput is the output parameter of the workflow's node with that
// display name ("" when there is none).
func nodeOutput(wf *unstructured.Unstructured, displayName, param string) string {
	nodes, _, _ := unstructured.NestedMap(wf.Object, "status", "nodes")
	for _, n := range nodes {
		m := n.(map[string]any)
		if m["displayName"] != displayName || m["type"] != "Pod" {
			continue
		}
		params, _, _ := unstructured.NestedSlice(m, "outputs", "parameters")
		for _, p := range params {
			if pm := p.(map[string]any); pm["name"] == param {
				v, _ := pm["value"].(string)
				return v
			}
		}
	}
	return ""
}

// stepOutput is the output parameter of a step that may have a
// retryStrategy: its own pod's, or else its last attempt's ("<step>(N)").
func stepOutput(wf *unstructured.Unstructured, displayName, param string) string {
	if attempts := retryAttempts(wf, displayName); len(attempts) > 0 {
		return nodeOutput(wf, fmt.Sprintf("%s(%d)", displayName, len(attempts)-1), param)
	}
	return nodeOutput(wf, displayName, param)
}
