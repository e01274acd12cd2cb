package snapshot_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/steps/restore"
	"github.com/mlstate/mlstate/pkg/steps/snapshot"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// A restore point that holds only staged trees, restored with --skip-stage
// (the Argo template when no workspace is mounted), would restore nothing:
// it exits 10 before touching anything instead of succeeding.
func TestRestoreThatRestoresNothingFails(t *testing.T) {
	ctx := context.Background()
	st := "file://" + t.TempDir()
	ws := testsupport.Workspace(t)
	snap := testsupport.RunStep(ctx, t, snapshot.App(), "--store", st, "--pipeline", "cv", "--stage", ws)
	if snap.Code != 0 {
		t.Fatalf("snapshot exit %d: %s", snap.Code, snap.Stderr)
	}
	if err := os.WriteFile(filepath.Join(ws, "after.txt"), []byte("written after the snapshot"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := testsupport.Fingerprint(t, ws)
	r := testsupport.RunStep(ctx, t, restore.App(), "--store", st, "--pipeline", "cv", "--latest", "--skip-stage")
	if r.Code != exitcode.Precondition {
		t.Fatalf("exit %d, want %d (nothing restored): %s", r.Code, exitcode.Precondition, r.Stderr)
	}
	for _, want := range []string{"would restore nothing", ws, "--skip-stage", "workspace-pvc"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("message does not mention %q: %s", want, r.Stderr)
		}
	}
	if got := r.Output(t, "restored"); got != "false" {
		t.Errorf("output restored = %q, want false", got)
	}
	testsupport.SameFingerprint(t, before, testsupport.Fingerprint(t, ws))
}

// In an exit handler the restore acts only when the workflow did not
// succeed, and only on what this workflow snapshotted: a run that failed
// before its snapshot changed nothing and is not restored (no second
// failure).
func TestRestoreInAnExitHandler(t *testing.T) {
	ctx := context.Background()
	st := "file://" + t.TempDir()
	ws := testsupport.Workspace(t)
	want := testsupport.Fingerprint(t, ws)
	older := testsupport.RunStep(ctx, t, snapshot.App(), "--store", st, "--pipeline", "cv", "--stage", ws, "--workflow-uid", "uid-run-1", "--node-id", "n")
	if older.Code != 0 {
		t.Fatalf("snapshot exit %d: %s", older.Code, older.Stderr)
	}

	// Succeeded: no store access at all (this store does not exist).
	r := testsupport.RunStep(ctx, t, restore.App(), "--store", "file:///nonexistent/mlstate-store", "--pipeline", "cv",
		"--from-this-workflow", "--workflow-uid", "uid-run-1", "--workflow-status", "Succeeded")
	if r.Code != 0 || r.Output(t, "restored") != "false" {
		t.Fatalf("after Succeeded: exit %d restored=%q, want 0 and false: %s", r.Code, r.Output(t, "restored"), r.Stderr)
	}
	for _, status := range []string{"COMPLETE", "SUCCEEDED"} { // KFP's open-source backend and Vertex AI
		r := testsupport.RunStep(ctx, t, restore.App(), "--store", st, "--pipeline", "cv", "--from-this-workflow",
			"--workflow-uid", "uid-run-1", "--workflow-status", status)
		if r.Code != 0 || r.Output(t, "restored") != "false" {
			t.Fatalf("after KFP %s: exit %d restored=%q: %s", status, r.Code, r.Output(t, "restored"), r.Stderr)
		}
	}

	// A run that failed before its snapshot: another run's restore point
	// exists, but this run changed nothing, so nothing is restored.
	if err := os.WriteFile(filepath.Join(ws, "other.txt"), []byte("another run's work"), 0o644); err != nil {
		t.Fatal(err)
	}
	kept := testsupport.Fingerprint(t, ws)
	r = testsupport.RunStep(ctx, t, restore.App(), "--store", st, "--pipeline", "cv", "--from-this-workflow",
		"--workflow-uid", "uid-run-2", "--workflow-status", "Failed")
	if r.Code != 0 || r.Output(t, "restored") != "false" || !strings.Contains(r.Stderr, "recorded no restore point") {
		t.Fatalf("run without snapshot: exit %d restored=%q, want 0, false and a reason: %s", r.Code, r.Output(t, "restored"), r.Stderr)
	}
	testsupport.SameFingerprint(t, kept, testsupport.Fingerprint(t, ws))

	// The failed run that did snapshot gets its own restore point back.
	r = testsupport.RunStep(ctx, t, restore.App(), "--store", st, "--pipeline", "cv", "--from-this-workflow",
		"--workflow-uid", "uid-run-1", "--workflow-status", "Failed")
	if r.Code != 0 || r.Output(t, "restored") != "true" || r.Output(t, "restore-point") != older.Output(t, "restore-point") {
		t.Fatalf("failed run: exit %d restored=%q rp=%q, want 0, true, %s: %s", r.Code, r.Output(t, "restored"),
			r.Output(t, "restore-point"), older.Output(t, "restore-point"), r.Stderr)
	}
	testsupport.SameFingerprint(t, want, testsupport.Fingerprint(t, ws))

	bad := testsupport.RunStep(ctx, t, restore.App(), "--store", st, "--pipeline", "cv", "--from-this-workflow", "--latest", "--workflow-uid", "u")
	if bad.Code != exitcode.Usage || !strings.Contains(bad.Stderr, "excludes") {
		t.Errorf("--from-this-workflow with --latest: exit %d: %s", bad.Code, bad.Stderr)
	}
}
