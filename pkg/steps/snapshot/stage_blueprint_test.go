package snapshot_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlstate/mlstate/pkg/catalog"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	catalogcmd "github.com/mlstate/mlstate/pkg/steps/catalog"
	"github.com/mlstate/mlstate/pkg/steps/restore"
	"github.com/mlstate/mlstate/pkg/steps/snapshot"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
	"github.com/mlstate/mlstate/pkg/testsupport"
	"github.com/mlstate/mlstate/pkg/tree"
)

// stageCluster is the fixture with the shipped mlstate-stage Blueprint,
// whose PrepareData and KubeTask pods the stand-in runs as local processes
// of the stage step on a directory standing for the PVC.
type stageCluster struct {
	cluster
	pvc string // the PVC's directory
}

func newStageCluster(t *testing.T, s *testsupport.MinIOServer, withSecret bool) stageCluster {
	c := newCluster(t)
	bp := c.f.InstallBlueprint(t, "workflowtemplates/blueprints/stage.yaml")
	if bp != "mlstate-stage" {
		t.Fatalf("installed Blueprint %q, want mlstate-stage", bp)
	}
	if withSecret {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mlstate-store", Namespace: c.f.Namespace},
			Data: map[string][]byte{"aws_access_key_id": []byte(s.AccessKey), "aws_secret_access_key": []byte(s.SecretKey)}}
		if _, err := c.f.Kube.Clientset.CoreV1().Secrets(c.f.Namespace).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "pvc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c.f.StandIn.SetPodRunner(testsupport.LocalPods{
		Kube:    c.f.Kube,
		Images:  map[string]testsupport.LocalImage{"ghcr.io/mlstate/stage": testsupport.StepImage("stage")},
		Volumes: map[string]string{c.f.Namespace + "/" + testsupport.FixturePVC: dir},
	})
	return stageCluster{cluster: c, pvc: dir}
}

func (c stageCluster) snapshotArgs(store, pipeline string) []string {
	return append([]string{"--store", store, "--pipeline", pipeline, "--object", c.f.Object(), "--blueprint", "mlstate-stage"}, c.flags...)
}

// TestStageBlueprintRollsBack is the mlstate-stage promise: backup, then
// the training run changes, adds and removes files, then restore leaves the
// PVC byte-identical to the snapshot (the files it added are gone, which
// Kanister's restic restore does not do).
func TestStageBlueprintRollsBack(t *testing.T) {
	s := testsupport.MinIO(t)
	s.SetEnv(t)
	st := s.StoreURL(t, "mlstate")
	c := newStageCluster(t, s, true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	testsupport.WriteFiles(t, c.pvc, map[string]string{
		"progress.txt":        "epoch 1\n",
		"ckpt/epoch-1.pt":     strings.Repeat("weights-1 ", 50_000),
		"ckpt/config.json":    `{"lr": 0.1}`,
		"data/shard-0000.txt": "tokens",
	})
	if err := os.Symlink("ckpt/epoch-1.pt", filepath.Join(c.pvc, "latest.pt")); err != nil {
		t.Fatal(err)
	}
	want := testsupport.Fingerprint(t, c.pvc)

	snap := testsupport.RunStep(ctx, t, snapshot.App(), c.snapshotArgs(st, "stage-bp")...)
	if snap.Code != 0 {
		t.Fatalf("snapshot with mlstate-stage: exit %d: %s", snap.Code, snap.Stderr)
	}
	rp := snap.Output(t, "restore-point")

	// The record names the pushed tree; it is a real, complete tree in the
	// step's store, and catalog prune keeps it live.
	opened, err := storeurl.Open(ctx, st, storeurl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := restorepoint.Get(ctx, opened, "stage-bp", rp, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Kanister) != 1 {
		t.Fatalf("restore point records %d Kanister actions, want 1", len(rec.Kanister))
	}
	kv := rec.Kanister[0].Artifacts["mlstateStage"].KeyValue
	id, err := tree.ParseID(kv["mlstateTree"])
	if err != nil {
		t.Fatalf("artifact mlstateStage %v: tree: %v", kv, err)
	}
	if kv["store"] != st || kv["storeSecret"] != "mlstate-store" || kv["files"] != "4" {
		t.Errorf("artifact %v: want store %s, storeSecret mlstate-store, files 4", kv, st)
	}
	if rep, err := tree.Verify(ctx, opened, id); err != nil || len(rep.Broken) > 0 {
		t.Errorf("the pushed tree does not verify: %v, broken %v", err, rep.Broken)
	}
	live, err := catalog.LiveTrees(ctx, opened, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !containsTree(live, id) {
		t.Errorf("catalog's live set %v lacks the Kanister-pushed tree %s", live, id.Short())
	}

	// The failed training run, in place (the PVC's root is a mount point).
	for p, data := range map[string]string{"progress.txt": "garbage\n", "ckpt/epoch-2.pt": "torn", "new-dir/x": "added"} {
		full := filepath.Join(c.pvc, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(c.pvc, "data/shard-0000.txt")); err != nil {
		t.Fatal(err)
	}

	res := testsupport.RunStep(ctx, t, restore.App(), "--store", st, "--pipeline", "stage-bp", "--restore-point", rp,
		"--kubeconfig", testsupport.Kubeconfig(t, c.f.Kube.Config))
	if res.Code != 0 {
		t.Fatalf("restore: exit %d: %s", res.Code, res.Stderr)
	}
	testsupport.SameFingerprint(t, want, testsupport.Fingerprint(t, c.pvc))
}

func containsTree(ids []tree.ID, id tree.ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// TestStageBlueprintDeleteFreesTheTree: catalog prune runs the Blueprint's
// delete action (a KubeTask running `stage forget`) for the restore point it
// removes, in the Kanister namespace the restore point recorded (no
// --kanister-namespace is given; the default "kanister" has no
// controller), and its sweep then frees that tree while the kept restore
// point's tree stays whole.
func TestStageBlueprintDeleteFreesTheTree(t *testing.T) {
	s := testsupport.MinIO(t)
	s.SetEnv(t)
	st := s.StoreURL(t, "mlstate")
	c := newStageCluster(t, s, true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opened, err := storeurl.Open(ctx, st, storeurl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var trees []tree.ID
	for i, content := range []string{"first run", "second, longer run"} {
		if err := os.WriteFile(filepath.Join(c.pvc, "ckpt.pt"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		snap := testsupport.RunStep(ctx, t, snapshot.App(), c.snapshotArgs(st, "stage-prune")...)
		if snap.Code != 0 {
			t.Fatalf("snapshot %d: exit %d: %s", i, snap.Code, snap.Stderr)
		}
		rec, err := restorepoint.Get(ctx, opened, "stage-prune", snap.Output(t, "restore-point"), true)
		if err != nil {
			t.Fatal(err)
		}
		id, err := tree.ParseID(rec.Kanister[0].Artifacts["mlstateStage"].KeyValue["mlstateTree"])
		if err != nil {
			t.Fatal(err)
		}
		trees = append(trees, id)
		// Restore point IDs order by millisecond.
		time.Sleep(5 * time.Millisecond)
	}
	if trees[0] == trees[1] {
		t.Fatalf("two different PVC contents made one tree %s", trees[0].Short())
	}

	prune := testsupport.RunStep(ctx, t, catalogcmd.App(), "prune", "--store", st, "--pipeline", "stage-prune",
		"--keep-last", "1", "--grace", "0s", "--kubeconfig", testsupport.Kubeconfig(t, c.f.Kube.Config))
	if prune.Code != 0 {
		t.Fatalf("prune: exit %d: %s", prune.Code, prune.Stderr)
	}
	if found, err := tree.Exists(ctx, opened, trees[0]); err != nil || found {
		t.Errorf("the pruned restore point's tree is still stored (%v, %v)", found, err)
	}
	if rep, err := tree.Verify(ctx, opened, trees[1]); err != nil || len(rep.Broken) > 0 {
		t.Errorf("the kept restore point's tree does not verify after the sweep: %v, broken %v", err, rep.Broken)
	}
	h, err := tree.History(ctx, opened, "kanister."+c.f.Namespace+"."+testsupport.FixturePVC)
	if err != nil || len(h) != 1 || h[0].ID != trees[1] {
		t.Errorf("the PVC's push history is %v (%v), want only the kept tree %s", h, err, trees[1].Short())
	}
}

// TestStageBlueprintWithoutStoreSecret: without the Secret in the PVC's
// namespace the pod has no credentials; the backup fails with the stage
// step's own message in the ActionSet's error, and no restore point is
// recorded.
func TestStageBlueprintWithoutStoreSecret(t *testing.T) {
	s := testsupport.MinIO(t)
	s.SetEnv(t) // the snapshot step's own credentials; the pod must not inherit them
	st := s.StoreURL(t, "mlstate")
	c := newStageCluster(t, s, false)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	testsupport.WriteFiles(t, c.pvc, map[string]string{"ckpt.pt": "weights"})
	snap := testsupport.RunStep(ctx, t, snapshot.App(), c.snapshotArgs(st, "stage-nosecret")...)
	if snap.Code == 0 {
		t.Fatalf("snapshot without the store Secret succeeded")
	}
	// The pod's environment is filled from the Secret, so the message
	// names it (MLSTATE_CREDENTIALS_SOURCE), not the variables.
	wantSecret := "no credentials (anonymous); set them in Secret mlstate-store (keys aws_access_key_id, aws_secret_access_key) in namespace " + c.f.Namespace
	if !strings.Contains(snap.Stderr, "pushPVC") || !strings.Contains(snap.Stderr, wantSecret) {
		t.Errorf("the failure does not name the phase and the missing Secret (%q):\n%s", wantSecret, snap.Stderr)
	}
	if rp := snap.Output(t, "restore-point"); rp != "" {
		t.Errorf("a restore point %s was recorded for a failed backup", rp)
	}
}
