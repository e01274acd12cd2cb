package testsupport

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// createWith creates an ActionSet of the given actions (as maps).
func createWith(t *testing.T, k *KubeEnv, ns, name string, labels map[string]any, actions ...map[string]any) {
	t.Helper()
	list := make([]any, len(actions))
	for i, a := range actions {
		list[i] = a
	}
	meta := map[string]any{"name": name, "namespace": ns}
	if labels != nil {
		meta["labels"] = labels
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cr.kanister.io/v1alpha1", "kind": "ActionSet", "metadata": meta,
		"spec": map[string]any{"actions": list},
	}}
	if _, err := k.Dynamic.Resource(standInActionSets).Namespace(ns).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func backupOf(ns, pvc string, extra map[string]any) map[string]any {
	a := map[string]any{"name": "backup", "blueprint": "bp", "object": map[string]any{"kind": "pvc", "name": pvc, "namespace": ns}}
	for k, v := range extra {
		a[k] = v
	}
	return a
}

// eventually polls the ActionSet until cond holds on it.
func eventually(t *testing.T, k *KubeEnv, ns, name, what string, cond func(u *unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	var got *unstructured.Unstructured
	Eventually(t, 0, what, func(ctx context.Context) (bool, string) {
		u, err := k.Dynamic.Resource(standInActionSets).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = u
		return cond(u), fmt.Sprint(u.Object["status"])
	})
	return got
}

// warningEvent waits for a Warning Event on the ActionSet with reason.
func warningEvent(t *testing.T, k *KubeEnv, ns, name, reason string) corev1.Event {
	t.Helper()
	var ev corev1.Event
	Eventually(t, 0, "warning "+reason+" on "+name, func(ctx context.Context) (bool, string) {
		list, err := k.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=ActionSet,involvedObject.name=" + name + ",type=Warning"})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if e.Reason == reason {
				ev = e
				return true, ""
			}
			seen = append(seen, e.Reason)
		}
		return false, strings.Join(seen, ", ")
	})
	return ev
}

func state(u *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedString(u.Object, "status", "state")
	return s
}

// TestStandInLaunchFailures: param.go New reads Secrets, ConfigMaps and the
// Profile; a missing one fails the launch (controller.go handleActionSet).
func TestStandInLaunchFailures(t *testing.T) {
	t.Parallel()
	k, ns := standInNamespace(t)
	StartKanisterStandIn(t, k, ns)
	ref := func(kind, name string) map[string]any {
		return map[string]any{"kind": kind, "apiVersion": "v1", "name": name, "namespace": ns}
	}
	cases := []struct {
		name  string
		extra map[string]any
		want  string
	}{
		{"no-secret", map[string]any{"secrets": map[string]any{"key": ref("Secret", "missing")}}, `secrets "missing" not found`},
		{"no-configmap", map[string]any{"configMaps": map[string]any{"cfg": ref("ConfigMap", "missing")}}, `configmaps "missing" not found`},
		{"no-profile", map[string]any{"profile": map[string]any{"name": "missing", "namespace": ns}}, `profiles.cr.kanister.io "missing" not found`},
	}
	for _, c := range cases {
		createWith(t, k, ns, c.name, nil, backupOf(ns, "data", c.extra))
	}
	for _, c := range cases {
		u := eventually(t, k, ns, c.name, "failed", func(u *unstructured.Unstructured) bool { return state(u) == "failed" })
		if msg, _, _ := unstructured.NestedString(u.Object, "status", "error", "message"); msg != c.want {
			t.Errorf("%s: error.message %q, want %q", c.name, msg, c.want)
		}
		ev := warningEvent(t, k, ns, c.name, "ActionSetFailed Action: backup")
		if want := "Failed to launch Action " + c.name + ": " + c.want; ev.Message != want {
			t.Errorf("%s: event message %q, want %q", c.name, ev.Message, want)
		}
		actions, _, _ := unstructured.NestedSlice(u.Object, "status", "actions")
		if p, _, _ := unstructured.NestedSlice(actions[0].(map[string]any), "phases"); len(p) == 0 || p[0].(map[string]any)["state"] != "failed" {
			t.Errorf("%s: first phase not marked failed: %v", c.name, actions)
		}
	}
}

// TestStandInMissingBlueprint: initActionSetStatus records reason "Error".
func TestStandInMissingBlueprint(t *testing.T) {
	t.Parallel()
	k, ns := standInNamespace(t)
	StartKanisterStandIn(t, k, ns)
	a := backupOf(ns, "data", nil)
	a["blueprint"] = "nope"
	createWith(t, k, ns, "nobp", nil, a)
	u := eventually(t, k, ns, "nobp", "failed", func(u *unstructured.Unstructured) bool { return state(u) == "failed" })
	if actions, ok, _ := unstructured.NestedSlice(u.Object, "status", "actions"); ok && len(actions) > 0 {
		t.Errorf("status.actions %v, want none after a failed initialisation", actions)
	}
	ev := warningEvent(t, k, ns, "nobp", "Error")
	if !strings.HasPrefix(ev.Message, `Could not get blueprint: Failed to query blueprint: blueprints.cr.kanister.io "nope" not found`) {
		t.Errorf("event message %q", ev.Message)
	}
}

// TestStandInProgressAsKanisterWritesIt: no percentCompleted before a phase
// completes, nothing written while a phase runs quietly, and no labels of
// the controller's own.
func TestStandInProgressAsKanisterWritesIt(t *testing.T) {
	t.Parallel()
	k, ns := standInNamespace(t)
	StartKanisterStandIn(t, k, ns)
	createWith(t, k, ns, "held", nil, backupOf(ns, "data", map[string]any{"options": map[string]any{StandInOption + "mode": "hold-pending"}}))
	u := eventually(t, k, ns, "held", "pending", func(u *unstructured.Unstructured) bool { return state(u) == "pending" })
	if p, ok, _ := unstructured.NestedMap(u.Object, "status", "progress"); ok && len(p) > 0 {
		t.Errorf("pending progress %v, want none written", p)
	}
	labels := map[string]any{"mlstate.io/pipeline": "train"}
	createWith(t, k, ns, "quiet", labels, backupOf(ns, "data", map[string]any{"options": map[string]any{StandInOption + "phase-delay": "2s"}}))
	u = eventually(t, k, ns, "quiet", "running its phase", func(u *unstructured.Unstructured) bool {
		p, _, _ := unstructured.NestedString(u.Object, "status", "progress", "runningPhase")
		return p == "copy"
	})
	running := u.GetResourceVersion()
	if p, _, _ := unstructured.NestedMap(u.Object, "status", "progress"); p["percentCompleted"] != nil || p["lastTransitionTime"] != nil {
		t.Errorf("progress while the first phase runs: %v, want only runningPhase", p)
	}
	u = eventually(t, k, ns, "quiet", "complete", func(u *unstructured.Unstructured) bool { return state(u) == "complete" })
	if p, _, _ := unstructured.NestedMap(u.Object, "status", "progress"); p["percentCompleted"] != "100" || p["lastTransitionTime"] == nil {
		t.Errorf("progress when complete: %v", p)
	}
	if u.GetResourceVersion() == running {
		t.Fatal("no write after the running one")
	}
	if got := u.GetLabels(); len(got) != 1 || got["mlstate.io/pipeline"] != "train" {
		t.Errorf("labels %v: the controller sets none", got)
	}
}

// TestStandInActionsRunInParallel: each launched action runs in its own
// goroutine (controller.go runAction).
func TestStandInActionsRunInParallel(t *testing.T) {
	t.Parallel()
	k, ns := standInNamespace(t)
	createPVC(t, k, ns, "data2")
	StartKanisterStandIn(t, k, ns)
	slow := map[string]any{"options": map[string]any{StandInOption + "phase-delay": "2s"}}
	createWith(t, k, ns, "two", nil, backupOf(ns, "data", slow), backupOf(ns, "data2", slow))
	eventually(t, k, ns, "two", "both actions running at once", func(u *unstructured.Unstructured) bool {
		actions, _, _ := unstructured.NestedSlice(u.Object, "status", "actions")
		n := 0
		for _, a := range actions {
			p, _, _ := unstructured.NestedSlice(a.(map[string]any), "phases")
			if len(p) > 0 && p[0].(map[string]any)["state"] == "running" {
				n++
			}
		}
		return n == 2
	})
}

// TestStandInFailedBeforeDeferPhase: a failing phase writes failed at once;
// the deferPhase runs after (controller.go runAction, executeDeferPhase).
func TestStandInFailedBeforeDeferPhase(t *testing.T) {
	t.Parallel()
	k, ns := standInNamespace(t)
	createBlueprint(t, k, ns, "bp-defer", map[string]any{"backup": map[string]any{
		"phases":     []any{map[string]any{"func": "CopyVolumeData", "name": "copy", "args": map[string]any{"namespace": "{{ .PVC.Namespace }}", "volume": "{{ .PVC.Name }}", "dataArtifactPrefix": "p"}}},
		"deferPhase": map[string]any{"func": "KubeTask", "name": "cleanup", "args": map[string]any{"namespace": "{{ .PVC.Namespace }}", "image": "busybox", "command": []any{"true"}}},
	}})
	StartKanisterStandIn(t, k, ns)
	a := backupOf(ns, "data", map[string]any{"options": map[string]any{
		StandInOption + "fail-phase": "copy", StandInOption + "defer-delay": "2s"}})
	a["blueprint"] = "bp-defer"
	createWith(t, k, ns, "deferred", nil, a)
	eventually(t, k, ns, "deferred", "failed while the deferPhase runs", func(u *unstructured.Unstructured) bool {
		p, _, _ := unstructured.NestedString(u.Object, "status", "progress", "runningPhase")
		return state(u) == "failed" && p == "cleanup" && deferState(u) == "pending"
	})
	eventually(t, k, ns, "deferred", "the deferPhase done", func(u *unstructured.Unstructured) bool {
		return state(u) == "failed" && deferState(u) == "complete"
	})
}

func createPVC(t *testing.T, k *KubeEnv, ns, name string) {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	if _, err := k.Clientset.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createBlueprint(t *testing.T, k *KubeEnv, ns, name string, actions map[string]any) {
	t.Helper()
	bp := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cr.kanister.io/v1alpha1", "kind": "Blueprint",
		"metadata": map[string]any{"name": name, "namespace": ns}, "actions": actions,
	}}
	if _, err := k.Dynamic.Resource(standInBlueprints).Namespace(ns).Create(context.Background(), bp, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func deferState(u *unstructured.Unstructured) string {
	actions, _, _ := unstructured.NestedSlice(u.Object, "status", "actions")
	if len(actions) == 0 {
		return ""
	}
	d, _, _ := unstructured.NestedString(actions[0].(map[string]any), "deferPhase", "state")
	return d
}

// TestStandInChecksPhaseArgs: pkg/phase.go setPhaseArgs fails a phase whose
// rendered args lack a required one or carry one its function does not
// take, before the function runs.
func TestStandInChecksPhaseArgs(t *testing.T) {
	t.Parallel()
	k, ns := standInNamespace(t)
	StartKanisterStandIn(t, k, ns)
	for name, args := range map[string]map[string]any{
		"missing":     {"namespace": "{{ .PVC.Namespace }}", "volume": "{{ .PVC.Name }}"},
		"unsupported": {"namespace": "{{ .PVC.Namespace }}", "volume": "{{ .PVC.Name }}", "dataArtifactPrefix": "p", "volumes": "x"},
	} {
		bp := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cr.kanister.io/v1alpha1", "kind": "Blueprint",
			"metadata": map[string]any{"name": name, "namespace": ns},
			"actions": map[string]any{"backup": map[string]any{"phases": []any{
				map[string]any{"func": "CopyVolumeData", "name": "copy", "args": args}}}},
		}}
		if _, err := k.Dynamic.Resource(standInBlueprints).Namespace(ns).Create(context.Background(), bp, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		a := backupOf(ns, "data", nil)
		a["blueprint"] = name
		createWith(t, k, ns, name, nil, a)
	}
	for name, want := range map[string]string{
		"missing":     "Required args missing for function CopyVolumeData: Required arg missing: dataArtifactPrefix",
		"unsupported": "Checking supported args for function CopyVolumeData.: argument volumes is not supported",
	} {
		u := eventually(t, k, ns, name, "failed", func(u *unstructured.Unstructured) bool { return state(u) == "failed" })
		if msg, _, _ := unstructured.NestedString(u.Object, "status", "error", "message"); !strings.HasSuffix(msg, want) {
			t.Errorf("%s: error.message %q, want it to end with %q", name, msg, want)
		}
	}
}
