package testsupport

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// standInNamespace makes a namespace with Blueprint "bp" (action backup, one
// phase, one output artifact) and PVC "data".
func standInNamespace(t *testing.T) (*KubeEnv, string) {
	t.Helper()
	k := Kube(t)
	ns := k.Namespace(t, "standin")
	ctx := context.Background()
	bp := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cr.kanister.io/v1alpha1", "kind": "Blueprint",
		"metadata": map[string]any{"name": "bp", "namespace": ns},
		"actions": map[string]any{"backup": map[string]any{
			"outputArtifacts": map[string]any{"snap": map[string]any{"keyValue": map[string]any{"id": "{{ .Phases.copy.Output.backupID }}"}}},
			"phases": []any{map[string]any{"func": "CopyVolumeData", "name": "copy",
				"args": map[string]any{"namespace": "{{ .PVC.Namespace }}", "volume": "{{ .PVC.Name }}", "dataArtifactPrefix": "test/{{ .PVC.Name }}"}}},
		}},
	}}
	if _, err := k.Dynamic.Resource(standInBlueprints).Namespace(ns).Create(ctx, bp, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	if _, err := k.Clientset.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return k, ns
}

func createActionSet(t *testing.T, k *KubeEnv, ns, name, kind string, options map[string]any) {
	t.Helper()
	action := map[string]any{"name": "backup", "blueprint": "bp",
		"object": map[string]any{"kind": kind, "name": "data", "namespace": ns}}
	if options != nil {
		action["options"] = options
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cr.kanister.io/v1alpha1", "kind": "ActionSet",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"actions": []any{action}},
	}}
	if _, err := k.Dynamic.Resource(standInActionSets).Namespace(ns).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// awaitState polls (test code only) until the ActionSet has state.
func awaitState(t *testing.T, k *KubeEnv, ns, name, state string) *unstructured.Unstructured {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		u, err := k.Dynamic.Resource(standInActionSets).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s, _, _ := unstructured.NestedString(u.Object, "status", "state"); s == state {
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("ActionSet %s never reached %s: status %v", name, state, u.Object["status"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func artifactID(u *unstructured.Unstructured) string {
	actions, _, _ := unstructured.NestedSlice(u.Object, "status", "actions")
	id, _, _ := unstructured.NestedString(actions[0].(map[string]any), "artifacts", "snap", "keyValue", "id")
	return id
}

func TestStandInArtifactsRawUntilComplete(t *testing.T) {
	t.Parallel()
	k, ns := standInNamespace(t)
	s := StartKanisterStandIn(t, k, ns)
	createActionSet(t, k, ns, "frozen", "pvc", map[string]any{StandInOption + "mode": "freeze-running"})
	if id := artifactID(awaitState(t, k, ns, "frozen", "running")); !strings.HasPrefix(id, "{{") {
		t.Fatalf("artifact while running = %q, want the raw template", id)
	}
	createActionSet(t, k, ns, "done", "PVC", nil)
	done := awaitState(t, k, ns, "done", "complete")
	if id := artifactID(done); id == "" || strings.Contains(id, "{{") {
		t.Fatalf("artifact when complete = %q, want a rendered value", id)
	}
	if p, _, _ := unstructured.NestedString(done.Object, "status", "progress", "percentCompleted"); p != "100" {
		t.Fatalf("percentCompleted = %q, want 100", p)
	}
	if s.Created() != 2 {
		t.Fatalf("Created() = %d, want 2", s.Created())
	}
}

func TestStandInInvalidSpecGetsNoStatus(t *testing.T) {
	t.Parallel()
	k, ns := standInNamespace(t)
	StartKanisterStandIn(t, k, ns)
	createActionSet(t, k, ns, "invalid", "PersistentVolumeClaim", nil) // generic kind without apiVersion/resource
	createActionSet(t, k, ns, "valid", "pvc", nil)
	awaitState(t, k, ns, "valid", "complete")
	u, err := k.Dynamic.Resource(standInActionSets).Namespace(ns).Get(context.Background(), "invalid", metav1.GetOptions{})
	if err != nil || u.Object["status"] != nil {
		t.Fatalf("invalid ActionSet got status %v (%v); Kanister writes none", u.Object["status"], err)
	}
}

func TestStandInFailPhaseOption(t *testing.T) {
	t.Parallel()
	k, ns := standInNamespace(t)
	StartKanisterStandIn(t, k, ns)
	createActionSet(t, k, ns, "fails", "pvc", map[string]any{StandInOption + "fail-phase": "copy", StandInOption + "fail-message": "boom"})
	u := awaitState(t, k, ns, "fails", "failed")
	if msg, _, _ := unstructured.NestedString(u.Object, "status", "error", "message"); msg != "null: boom" {
		t.Fatalf("error.message = %q, want Kanister's \"null: boom\" (no errkit details)", msg)
	}
	// Kanister records the Warning after the status write: wait for it.
	ev := warningEvent(t, k, ns, "fails", "ActionSetFailed Action: backup")
	if ev.Source.Component != "Kanister Controller" || !strings.HasSuffix(ev.Message, ": null: boom") {
		t.Fatalf("warning event %+v, want one from Kanister Controller with the phase error", ev)
	}
}

func TestStandInRestartLeavesRunningOnes(t *testing.T) {
	t.Parallel()
	k, ns := standInNamespace(t)
	s := StartKanisterStandIn(t, k, ns)
	s.Behave(func(*unstructured.Unstructured) StandInBehaviour { return StandInBehaviour{FreezeRunning: true} })
	createActionSet(t, k, ns, "frozen", "pvc", nil)
	awaitState(t, k, ns, "frozen", "running")
	s.Stop()
	s.Behave(nil) // the restarted controller would finish it, if it looked at it
	createActionSet(t, k, ns, "while-down", "pvc", nil)
	s.Restart()
	awaitState(t, k, ns, "while-down", "complete") // created while down: runs on restart (§5.2)
	awaitState(t, k, ns, "frozen", "running")      // running at the restart: stays so (#3725)
}
