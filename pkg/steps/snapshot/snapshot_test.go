package snapshot_test

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/steps/restore"
	"github.com/mlstate/mlstate/pkg/steps/snapshot"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// cluster is what a Kanister-side test needs: the fixture and the flags that
// point a step at it.
type cluster struct {
	f     *testsupport.KanisterFixture
	flags []string
}

func newCluster(t testing.TB) cluster {
	f := testsupport.NewKanisterFixture(t)
	return cluster{f: f, flags: []string{
		"--kubeconfig", testsupport.Kubeconfig(t, f.Kube.Config),
		"--kanister-namespace", f.Namespace,
		"--no-status-timeout", "20s",
	}}
}

func (c cluster) targets() []string {
	return append([]string{"--object", c.f.Object(), "--blueprint", testsupport.FixtureBlueprint}, c.flags...)
}

func minioStore(t *testing.T) string {
	s := testsupport.MinIO(t)
	s.SetEnv(t)
	return s.StoreURL(t, "mlstate")
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := minioStore(t)
	c := newCluster(t)
	ws := testsupport.Workspace(t)
	before := testsupport.Fingerprint(t, ws)

	args := append([]string{"--store", st, "--pipeline", "llm", "--stage", ws,
		"--workflow-name", "train-abc", "--workflow-uid", "uid-1", "--node-id", "train-abc-111"}, c.targets()...)
	snap := testsupport.RunStep(ctx, t, snapshot.App(), args...)
	if snap.Code != 0 {
		t.Fatalf("snapshot exit %d: %s", snap.Code, snap.Stderr)
	}
	rp := snap.Output(t, "restore-point")
	if restorepoint.ValidateID(rp) != nil || snap.Values["restore-point"] != rp {
		t.Fatalf("restore-point output %q, JSON %s", rp, snap.Stdout)
	}
	if snap.Output(t, "bytes-staged") == "0" || snap.Output(t, "actionsets") == "" {
		t.Fatalf("outputs: bytes-staged=%s actionsets=%s", snap.Output(t, "bytes-staged"), snap.Output(t, "actionsets"))
	}
	// Outputs name ActionSets as NAMESPACE/NAME.
	backupName := path.Base(snap.Output(t, "actionsets"))

	// Training damages the workspace; the restore must bring it back exactly.
	if err := os.WriteFile(filepath.Join(ws, "ckpt/epoch-1.pt"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "ckpt/epoch-2.pt"), []byte("half-written"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(ws, "data")); err != nil {
		t.Fatal(err)
	}
	// The backup ActionSet is gone (users clean them up; Kanister never
	// does): the restore must work from the record alone.
	c.f.DeleteActionSet(t, backupName)

	res := testsupport.RunStep(ctx, t, restore.App(), append([]string{"--store", st, "--pipeline", "llm", "--restore-point", rp,
		"--workflow-uid", "uid-2", "--node-id", "restore-222"}, c.flags...)...)
	if res.Code != 0 {
		t.Fatalf("restore exit %d: %s", res.Code, res.Stderr)
	}
	testsupport.SameFingerprint(t, before, testsupport.Fingerprint(t, ws))
	if res.Output(t, "restore-point") != rp || res.Output(t, "files") == "0" {
		t.Fatalf("restore outputs: %s", res.Stdout)
	}

	// The restore ActionSet got the backup's rendered artifacts as inputs
	// (the kanctl --from rule), never raw templates.
	var restoreAS *unstructured.Unstructured
	for _, as := range c.f.ActionSets(t) {
		if as.GetNamespace()+"/"+as.GetName() == res.Output(t, "actionsets") {
			restoreAS = &as
		}
	}
	if restoreAS == nil {
		t.Fatalf("restore ActionSet %q not found", res.Output(t, "actionsets"))
	}
	actions, _, _ := unstructured.NestedSlice(restoreAS.Object, "spec", "actions")
	tag, _, _ := unstructured.NestedString(actions[0].(map[string]any), "artifacts", "snap", "keyValue", "backupTag")
	if tag == "" || strings.Contains(tag, "{{") {
		t.Fatalf("restore input artifact backupTag = %q, want the rendered value", tag)
	}
	if state, _, _ := unstructured.NestedString(restoreAS.Object, "status", "state"); state != "complete" {
		t.Fatalf("restore ActionSet state %q", state)
	}
}

func TestSnapshotRetryAdoptsActionSet(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	st := "file://" + t.TempDir()
	args := append([]string{"--store", st, "--pipeline", "llm", "--workflow-uid", "uid-r", "--node-id", "wf-r-1"}, c.targets()...)
	first := testsupport.RunStep(ctx, t, snapshot.App(), args...)
	second := testsupport.RunStep(ctx, t, snapshot.App(), args...)
	if first.Code != 0 || second.Code != 0 {
		t.Fatalf("exits %d, %d: %s %s", first.Code, second.Code, first.Stderr, second.Stderr)
	}
	if n := len(c.f.ActionSets(t)); n != 1 || c.f.StandIn.Created() != 1 {
		t.Fatalf("a retried step created %d ActionSets (stand-in saw %d), want 1", n, c.f.StandIn.Created())
	}
	if first.Output(t, "actionsets") != second.Output(t, "actionsets") {
		t.Fatalf("retry used ActionSet %s, first attempt %s", second.Output(t, "actionsets"), first.Output(t, "actionsets"))
	}
}

func TestSnapshotStagingOnlyAndLatest(t *testing.T) {
	ctx := context.Background()
	st := "file://" + t.TempDir()
	ws := testsupport.Workspace(t)
	first := testsupport.RunStep(ctx, t, snapshot.App(), "--store", st, "--pipeline", "cv", "--stage", ws)
	if first.Code != 0 {
		t.Fatalf("exit %d: %s", first.Code, first.Stderr)
	}
	if first.Output(t, "actionsets") != "" {
		t.Fatalf("staging-only snapshot reports ActionSets %q", first.Output(t, "actionsets"))
	}
	if err := os.WriteFile(filepath.Join(ws, "metrics/loss.json"), []byte(`{"loss": 0.4}`), 0o644); err != nil {
		t.Fatal(err)
	}
	want := testsupport.Fingerprint(t, ws)
	second := testsupport.RunStep(ctx, t, snapshot.App(), "--store", st, "--pipeline", "cv", "--stage", ws)
	if second.Code != 0 {
		t.Fatalf("exit %d: %s", second.Code, second.Stderr)
	}
	if err := os.RemoveAll(ws); err != nil {
		t.Fatal(err)
	}
	res := testsupport.RunStep(ctx, t, restore.App(), "--store", st, "--pipeline", "cv", "--latest")
	if res.Code != 0 {
		t.Fatalf("restore --latest exit %d: %s", res.Code, res.Stderr)
	}
	if res.Output(t, "restore-point") != second.Output(t, "restore-point") {
		t.Fatalf("--latest restored %s, want %s", res.Output(t, "restore-point"), second.Output(t, "restore-point"))
	}
	testsupport.SameFingerprint(t, want, testsupport.Fingerprint(t, ws))

	// --to puts the tree elsewhere and leaves the original path alone.
	alt := filepath.Join(t.TempDir(), "alt")
	res = testsupport.RunStep(ctx, t, restore.App(), "--store", st, "--pipeline", "cv", "--restore-point", first.Output(t, "restore-point"), "--to", ws+"="+alt)
	if res.Code != 0 {
		t.Fatalf("restore --to exit %d: %s", res.Code, res.Stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(alt, "metrics/loss.json")); !strings.Contains(string(got), "0.5") {
		t.Fatalf("--to restored loss.json %q, want the first snapshot's", got)
	}
	testsupport.SameFingerprint(t, want, testsupport.Fingerprint(t, ws))
}

func TestSnapshotKanisterOnly(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	dir := t.TempDir()
	snap := testsupport.RunStep(ctx, t, snapshot.App(), append([]string{"--store", "file://" + dir, "--pipeline", "db"}, c.targets()...)...)
	if snap.Code != 0 {
		t.Fatalf("exit %d: %s", snap.Code, snap.Stderr)
	}
	st, err := storeurl.Open(ctx, "file://"+dir, storeurl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := restorepoint.Get(ctx, st, "db", snap.Output(t, "restore-point"), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Trees) != 0 || len(rec.Kanister) != 1 || rec.Kanister[0].Artifacts["snap"].KeyValue["backupID"] == "" {
		t.Fatalf("record: %+v", rec)
	}
	if rec.Kanister[0].Object.Kind != "pvc" || rec.KanisterNamespace != c.f.Namespace {
		t.Fatalf("recorded object %+v in %q", rec.Kanister[0].Object, rec.KanisterNamespace)
	}
}

func TestSnapshotKanisterFailureLeavesNoRestorePoint(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	dir := t.TempDir()
	ws := testsupport.Workspace(t)
	args := append([]string{"--store", "file://" + dir, "--pipeline", "llm", "--stage", ws,
		"--option", "mlstate-standin/fail-phase=backupVolume",
		"--option", "mlstate-standin/fail-message=restic: repository is locked"}, c.targets()...)
	snap := testsupport.RunStep(ctx, t, snapshot.App(), args...)
	if snap.Code != exitcode.Kanister {
		t.Fatalf("exit %d, want %d: %s", snap.Code, exitcode.Kanister, snap.Stderr)
	}
	for _, want := range []string{"backupVolume", "restic: repository is locked", "no restore point was recorded", "describe actionset"} {
		if !strings.Contains(snap.Stderr, want) {
			t.Errorf("stderr does not mention %q:\n%s", want, snap.Stderr)
		}
	}
	if snap.Output(t, "restore-point") != "" {
		t.Fatalf("failed snapshot published restore point %q", snap.Output(t, "restore-point"))
	}
	st, _ := storeurl.Open(ctx, "file://"+dir, storeurl.Options{})
	if ids, err := restorepoint.List(ctx, st, "llm"); err != nil || len(ids) != 0 {
		t.Fatalf("restore points after a failed snapshot: %v, %v", ids, err)
	}
}

func TestSnapshotSIGTERMMidWait(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	// The phase outlasts any wait below: returning at all proves the step
	// stopped waiting on the signal rather than on Kanister.
	args := append([]string{"--store", "file://" + t.TempDir(), "--pipeline", "llm",
		"--option", "mlstate-standin/phase-delay=10m"}, c.targets()...)
	done := make(chan testsupport.StepRun, 1)
	go func() { done <- testsupport.RunStep(ctx, t, snapshot.App(), args...) }()
	// Cancel once the ActionSet is running, as Argo's SIGTERM would.
	testsupport.Eventually(t, 0, "the snapshot's ActionSet to be running", func(ctx context.Context) (bool, string) {
		sets, err := c.f.Kube.Dynamic.Resource(kanister.ActionSetGVR).Namespace(c.f.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, u := range sets.Items {
			if state, _, _ := unstructured.NestedString(u.Object, "status", "state"); state == "running" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d ActionSets, none running", len(sets.Items))
	})
	cancel()
	var snap testsupport.StepRun
	select {
	case snap = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("snapshot still waiting 2 minutes after SIGTERM, for an ActionSet that runs 10 minutes")
	}
	if snap.Code != exitcode.Cancelled {
		t.Fatalf("exit %d, want %d: %s", snap.Code, exitcode.Cancelled, snap.Stderr)
	}
	if !strings.Contains(snap.Stderr, "left to Kanister") {
		t.Fatalf("message does not say the ActionSet is left to Kanister: %s", snap.Stderr)
	}
	if _, err := os.Stat(filepath.Join(snap.OutputsDir, "restore-point")); err != nil {
		t.Fatalf("no restore-point output after SIGTERM: %v", err)
	}
}
