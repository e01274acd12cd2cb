package catalog_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/snapshot"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// pruneBlueprint's delete action needs the backup's artifacts, as real
// ones (DeleteData with backupTag) do.
const pruneBlueprint = `
actions:
  backup:
    outputArtifacts:
      volBackup:
        keyValue:
          backupID: "{{ .Phases.copy.Output.backupID }}"
    phases:
    - func: CopyVolumeData
      name: copy
      args:
        namespace: "{{ .PVC.Namespace }}"
        volume: "{{ .PVC.Name }}"
        dataArtifactPrefix: "ml-state/ckpt"
  delete:
    phases:
    - func: DeleteData
      name: deleteData
      args:
        namespace: "{{ .PVC.Namespace }}"
        backupID: "{{ .ArtifactsIn.volBackup.KeyValue.backupID }}"
`

// TestPruneKanisterDelete prunes restore points with Kanister backups: the
// Blueprint's delete action runs with each record's artifacts; the one whose
// delete fails (the stand-in fails its deleteData phase on request) keeps
// its record, the others go, and prune exits 13 naming the kept one.
func TestPruneKanisterDelete(t *testing.T) {
	ctx := context.Background()
	k := testsupport.Kube(t)
	ns := k.Namespace(t, "prune")
	bp := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(pruneBlueprint), &bp.Object); err != nil {
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
	kc := &kanister.Client{Dynamic: k.Dynamic, Kube: k.Clientset, Namespace: ns,
		Timeouts: kanister.Timeouts{NoStatus: 20 * time.Second, Pending: 20 * time.Second, Stalled: 20 * time.Second}}

	b := fileBackend(t)
	dir := filepath.Join(t.TempDir(), "ckpt")
	var recs []*restorepoint.Record
	for i, opts := range []map[string]string{
		{testsupport.StandInOption + "fail-phase": "deleteData", testsupport.StandInOption + "fail-message": "backup repository is read-only"},
		nil,
		nil,
	} {
		testsupport.WriteFiles(t, dir, map[string]string{"epoch.bin": random(2000, byte(40+i))})
		time.Sleep(3 * time.Millisecond)
		rec, err := snapshot.Take(ctx, b.st, snapshot.Options{
			Pipeline: "train", Kanister: kc, KanisterNamespace: ns, Stage: []string{dir},
			Actions: []kanister.ActionSpec{{Name: "backup", Blueprint: "bp",
				Object: kanister.ObjectRef{Kind: "pvc", Namespace: ns, Name: "data"}, Options: opts}},
		})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}

	r := runCatalog(t, "prune", "--store", b.url, "--pipeline", "train", "--keep-last", "1", "--grace", "0",
		"--kubeconfig", testsupport.Kubeconfig(t, k.Config), "--kanister-namespace", ns, "--outputs-dir", t.TempDir())
	if r.code != exitcode.Kanister {
		t.Fatalf("exit %d, want %d", r.code, exitcode.Kanister)
	}
	failed, removed, kept := "train/"+recs[0].ID, "train/"+recs[1].ID, recs[2].ID
	if !strings.Contains(r.stdout, "KEPT "+failed+": its Kanister delete failed") || !strings.Contains(r.stdout, "backup repository is read-only") {
		t.Errorf("stdout does not say which restore point was kept and why")
	}
	if !strings.Contains(r.stdout, "removed "+removed) || !strings.Contains(r.stderr, "kept so a later prune retries: "+failed) {
		t.Errorf("stdout/stderr do not report the removal and the failure")
	}
	if got := ids(t, b.st, "train"); len(got) != 2 || got[0] != recs[0].ID || got[1] != kept {
		t.Fatalf("restore points left %v, want [%s %s]", got, recs[0].ID, kept)
	}
	// The restore point whose Kanister delete failed is still restorable:
	// the sweep kept its tree.
	if r := runCatalog(t, "verify", "--store", b.url, "--pipeline", "train", "--all", "--outputs-dir", t.TempDir()); r.code != 0 {
		t.Fatalf("verify after prune: exit %d", r.code)
	}
	// Each delete ActionSet got the backup's rendered artifacts.
	list, err := k.Dynamic.Resource(kanister.ActionSetGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, rec := range recs[:2] {
		want[rec.Kanister[0].Artifacts["volBackup"].KeyValue["backupID"]] = true
	}
	for _, as := range list.Items {
		actions, _, _ := unstructured.NestedSlice(as.Object, "spec", "actions")
		a, _ := actions[0].(map[string]any)
		if a["name"] != "delete" {
			continue
		}
		id, _, _ := unstructured.NestedString(a, "artifacts", "volBackup", "keyValue", "backupID")
		if !want[id] {
			t.Errorf("delete ActionSet %s has backupID %q, want one of %v", as.GetName(), id, want)
		}
		delete(want, id)
	}
	if len(want) != 0 {
		t.Errorf("no delete ActionSet for backups %v", want)
	}
}
