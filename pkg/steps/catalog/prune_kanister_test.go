package catalog_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/snapshot"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// TestPruneKanisterDelete prunes restore points with Kanister backups: the
// Blueprint's delete action runs with each record's artifacts; the one whose
// delete fails (the stand-in fails its deleteVolumeData phase on request) keeps
// its record, the others go, and prune exits 13 naming the kept one.
func TestPruneKanisterDelete(t *testing.T) {
	ctx := context.Background()
	f := testsupport.NewKanisterFixture(t)
	k, ns := f.Kube, f.Namespace
	kc := &kanister.Client{Dynamic: k.Dynamic, Kube: k.Clientset, Namespace: ns,
		Timeouts: kanister.Timeouts{NoStatus: 20 * time.Second, Pending: 20 * time.Second}}

	b := fileBackend(t)
	dir := filepath.Join(t.TempDir(), "ckpt")
	var recs []*restorepoint.Record
	for i, opts := range []map[string]string{
		{testsupport.StandInOption + "fail-phase": "deleteVolumeData", testsupport.StandInOption + "fail-message": "backup repository is read-only"},
		nil,
		nil,
	} {
		testsupport.WriteFiles(t, dir, map[string]string{"epoch.bin": random(2000, byte(40+i))})
		time.Sleep(3 * time.Millisecond)
		rec, err := snapshot.Take(ctx, b.st, snapshot.Options{
			Pipeline: "train", Kanister: kc, KanisterNamespace: ns, Stage: []string{dir},
			Actions: []kanister.ActionSpec{{Name: "backup", Blueprint: testsupport.FixtureBlueprint,
				Object: kanister.ObjectRef{Kind: "pvc", Namespace: ns, Name: testsupport.FixturePVC}, Options: opts}},
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
		want[rec.Kanister[0].Artifacts["snap"].KeyValue["backupID"]] = true
	}
	for _, as := range list.Items {
		actions, _, _ := unstructured.NestedSlice(as.Object, "spec", "actions")
		a, _ := actions[0].(map[string]any)
		if a["name"] != "delete" {
			continue
		}
		id, _, _ := unstructured.NestedString(a, "artifacts", "snap", "keyValue", "backupID")
		if !want[id] {
			t.Errorf("delete ActionSet %s has backupID %q, want one of %v", as.GetName(), id, want)
		}
		delete(want, id)
	}
	if len(want) != 0 {
		t.Errorf("no delete ActionSet for backups %v", want)
	}
}
