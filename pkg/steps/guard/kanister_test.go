package guard_test

import (
	"context"
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

const guardBlueprint = `
actions:
  backup:
    outputArtifacts:
      volBackup:
        keyValue:
          backupTag: "{{ .Phases.copy.Output.backupTag }}"
    phases:
    - func: CopyVolumeData
      name: copy
      args:
        namespace: "{{ .PVC.Namespace }}"
        volume: "{{ .PVC.Name }}"
        dataArtifactPrefix: "ml-state/ckpt"
  restore:
    phases:
    - func: RestoreData
      name: restoreData
      args:
        namespace: "{{ .PVC.Namespace }}"
        backupTag: "{{ .ArtifactsIn.volBackup.KeyValue.backupTag }}"
`

// TestGuardKanister: guard backs up a PVC through Kanister (the test-only
// stand-in controller) and stages a workspace; the command fails; guard runs
// the Blueprint's restore action with the backup's artifacts and pulls the
// workspace back, then exits with the command's status.
func TestGuardKanister(t *testing.T) {
	ctx := context.Background()
	k := testsupport.Kube(t)
	ns := k.Namespace(t, "guard")
	bp := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(guardBlueprint), &bp.Object); err != nil {
		t.Fatal(err)
	}
	bp.SetAPIVersion("cr.kanister.io/v1alpha1")
	bp.SetKind("Blueprint")
	bp.SetName("bp")
	if _, err := k.Dynamic.Resource(kanister.BlueprintGVR).Namespace(ns).Create(ctx, bp, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := k.Clientset.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testsupport.StartKanisterStandIn(t, k, ns)

	ws := testsupport.Workspace(t)
	before := testsupport.Fingerprint(t, ws)
	start := time.Now()
	r := runGuard(t, "--store", fileStore(t), "--pipeline", "train", "--stage", ws, "--outputs-dir", t.TempDir(),
		"--object", "pvc/"+ns+"/data", "--blueprint", "bp",
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
			restoreTag, _, _ = unstructured.NestedString(a, "artifacts", "volBackup", "keyValue", "backupTag")
		}
	}
	if states["backup"] != kanister.StateComplete || states["restore"] != kanister.StateComplete || len(list.Items) != 2 {
		t.Fatalf("ActionSets %v, want a complete backup and a complete restore", states)
	}
	if restoreTag == "" {
		t.Fatal("the restore ActionSet did not get the backup's artifacts")
	}
}
