package kanister_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// multiBlueprint has a deferPhase after the backup, so one action can still
// be at work when Kanister marks the ActionSet complete.
const multiBlueprint = `
actions:
  backup:
    outputArtifacts:
      snap:
        keyValue:
          backupTag: "{{ .Phases.copy.Output.backupTag }}"
          cleaned: "{{ .DeferPhase.Output.backupTag }}"
    phases:
    - func: CopyVolumeData
      name: copy
      args: {namespace: "{{ .PVC.Namespace }}", volume: "{{ .PVC.Name }}", dataArtifactPrefix: ml}
    deferPhase:
      func: KubeTask
      name: cleanup
      args: {namespace: "{{ .PVC.Namespace }}", image: busybox, command: ["true"]}
  restore:
    phases:
    - func: RestoreData
      name: restoreData
      args: {namespace: "{{ .PVC.Namespace }}", image: img, backupArtifactPrefix: ml, pod: p, backupTag: "{{ .ArtifactsIn.snap.KeyValue.backupTag }}"}
`

// setupMulti adds Blueprint "multi" and a second PVC "data2" to setup's.
func setupMulti(t *testing.T) *env {
	t.Helper()
	e := setup(t, false)
	ctx := context.Background()
	bp := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(multiBlueprint), &bp.Object); err != nil {
		t.Fatal(err)
	}
	bp.SetAPIVersion("cr.kanister.io/v1alpha1")
	bp.SetKind("Blueprint")
	bp.SetName("multi")
	if _, err := e.k.Dynamic.Resource(kanister.BlueprintGVR).Namespace(e.ns).Create(ctx, bp, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data2", Namespace: e.ns},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	if _, err := e.k.Clientset.CoreV1().PersistentVolumeClaims(e.ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// twoActions backs up data and data2; opts[i] are action i's options.
func (e *env) twoActions(opts ...map[string]string) kanister.Request {
	req := kanister.Request{Labels: map[string]string{kanister.LabelPipeline: "train"}}
	for i, pvc := range []string{"data", "data2"} {
		a := kanister.ActionSpec{Name: "backup", Blueprint: "multi", Object: kanister.ObjectRef{Kind: "pvc", Name: pvc, Namespace: e.ns}}
		if i < len(opts) {
			a.Options = opts[i]
		}
		req.Actions = append(req.Actions, a)
	}
	return req
}

func logTo(e *env) *syncBuffer {
	var b syncBuffer
	e.client.Logger = slog.New(slog.NewTextHandler(&b, nil))
	return &b
}

// TestCompleteWaitsForEveryActionToRender: action 0 finishes first and
// Kanister marks the ActionSet complete while action 1 is still in its
// deferPhase with raw artifact templates; Run must wait for them.
func TestCompleteWaitsForEveryActionToRender(t *testing.T) {
	t.Parallel()
	e := setupMulti(t)
	logs := logTo(e)
	// Action 0 takes 2 s per phase, action 1 copies at once and then spends
	// 8 s in its deferPhase: action 0 ends in the middle of that.
	res, err := e.client.Run(context.Background(), e.twoActions(
		map[string]string{testsupport.StandInOption + "phase-delay": "2s"},
		map[string]string{testsupport.StandInOption + "defer-delay": "8s"}), nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for i, a := range res.Actions {
		kv := a.Artifacts["snap"].KeyValue
		if kv["backupTag"] == "" || kv["cleaned"] == "" || strings.Contains(kv["backupTag"]+kv["cleaned"], "{{") {
			t.Errorf("action %d artifacts not rendered: %v", i, kv)
		}
	}
	if !strings.Contains(logs.String(), "running deferPhase cleanup") {
		t.Fatalf("the ActionSet was never seen complete while action 1 ran its deferPhase; the race was not exercised:\n%s", logs.String())
	}

	// Its restore runs both actions.
	var restore []kanister.ActionSpec
	for _, rec := range res.Recorded() {
		restore = append(restore, kanister.RestoreAction(rec, "restore"))
	}
	out, err := e.client.Run(context.Background(), kanister.Request{Labels: map[string]string{kanister.LabelPipeline: "train"}, Actions: restore}, nil)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	for i, a := range out.Actions {
		if len(a.Phases) != 1 || a.Phases[0].State != kanister.StateComplete || a.Object.Name != res.Actions[i].Object.Name {
			t.Errorf("restore action %d: %+v, want restoreData complete on %s", i, a, res.Actions[i].Object.Name)
		}
	}
}

func TestUnrenderedArtifactIsNeverRecorded(t *testing.T) {
	t.Parallel()
	e := setupMulti(t)
	e.client.Timeouts.Settle = time.Second
	_, err := e.client.Run(context.Background(), e.twoActions(nil, map[string]string{testsupport.StandInOption + "defer-delay": "1h"}), nil)
	if err == nil || !strings.Contains(err.Error(), "is complete, but action 1 (backup) was still running deferPhase cleanup after 1s") ||
		!strings.Contains(err.Error(), "nothing is recorded") {
		t.Fatalf("got %v, want a refusal naming the unfinished action", err)
	}
}

// actionsStopped reads the ActionSet and says whether any phase still runs.
func actionsStopped(t *testing.T, e *env, name string) string {
	t.Helper()
	u, err := e.k.Dynamic.Resource(kanister.ActionSetGVR).Namespace(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	actions, _, _ := unstructured.NestedSlice(u.Object, "status", "actions")
	for i, a := range actions {
		phases, _, _ := unstructured.NestedSlice(a.(map[string]any), "phases")
		for _, p := range phases {
			if st, _, _ := unstructured.NestedString(p.(map[string]any), "state"); st == kanister.StateRunning {
				return "action " + strconv.Itoa(i) + " still running"
			}
		}
	}
	return ""
}

func TestFailureWaitsForTheOtherActions(t *testing.T) {
	t.Parallel()
	e := setupMulti(t)
	req := e.twoActions(map[string]string{testsupport.StandInOption + "fail-phase": "copy", testsupport.StandInOption + "fail-message": "disk full"},
		map[string]string{testsupport.StandInOption + "phase-delay": "2s"})
	req.Name = "mlstate-two-fail"
	_, err := e.client.Run(context.Background(), req, nil)
	var ae *kanister.ActionSetError
	if !errors.As(err, &ae) || !strings.Contains(ae.Message, "disk full") {
		t.Fatalf("got %v, want the phase failure", err)
	}
	if busy := actionsStopped(t, e, "mlstate-two-fail"); busy != "" {
		t.Fatalf("Run returned while %s: a retry would overlap it", busy)
	}
}

// TestLaunchFailureOfOneAction: action 1 names a Secret that does not
// exist, so Kanister fails to launch it while action 0 runs on. Whether or
// not Kanister manages to write failed, Run reports the launch failure,
// after action 0 stopped.
func TestLaunchFailureOfOneAction(t *testing.T) {
	t.Parallel()
	e := setupMulti(t)
	req := e.twoActions(map[string]string{testsupport.StandInOption + "phase-delay": "1s"})
	req.Actions[1].Secrets = map[string]kanister.ObjectRef{"key": {Kind: "Secret", Name: "no-such-secret", Namespace: e.ns}}
	req.Name = "mlstate-two-launch"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := e.client.Run(ctx, req, nil)
	if !errors.Is(err, kanister.ErrActionSetFailed) || !strings.Contains(err.Error(), `secrets "no-such-secret" not found`) {
		t.Fatalf("got %v, want the launch failure named", err)
	}
	if busy := actionsStopped(t, e, "mlstate-two-launch"); busy != "" {
		t.Fatalf("Run returned (%v) while %s", err, busy)
	}
}
