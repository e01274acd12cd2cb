package snapshot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/steps/restore"
	"github.com/mlstate/mlstate/pkg/steps/snapshot"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// Input mistakes are caught before anything happens, all at once, with the
// usage exit code.
func TestSnapshotUsageErrors(t *testing.T) {
	ctx := context.Background()
	st := "file://" + t.TempDir()
	ws := testsupport.Workspace(t)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no store", []string{"--pipeline", "p", "--stage", ws}, []string{"--store"}},
		{"no pipeline", []string{"--store", st, "--stage", ws}, []string{"--pipeline"}},
		{"bad pipeline", []string{"--store", st, "--pipeline", "Team/A", "--stage", ws}, []string{`"Team/A"`}},
		{"nothing", []string{"--store", st, "--pipeline", "p"}, []string{"nothing to snapshot"}},
		{"object without blueprint", []string{"--store", st, "--pipeline", "p", "--object", "pvc/ml/data"}, []string{"--blueprint"}},
		{"empty lists mean none", []string{"--store", st, "--pipeline", "p", "--object=", "--stage=", "--blueprint", "bp"}, []string{"nothing to snapshot"}},
		{"malformed object", []string{"--store", st, "--pipeline", "p", "--blueprint", "bp", "--object", "pvc/data"}, []string{"pvc/data"}},
		{"long kind", []string{"--store", st, "--pipeline", "p", "--blueprint", "bp", "--object", "PersistentVolumeClaim/ml/data"}, []string{"pvc"}},
		{"malformed profile", []string{"--store", st, "--pipeline", "p", "--blueprint", "bp", "--object", "pvc/ml/data", "--profile", "just-a-name"}, []string{"just-a-name"}},
		{"malformed option", []string{"--store", st, "--pipeline", "p", "--blueprint", "bp", "--object", "pvc/ml/data", "--option", "novalue"}, []string{"novalue"}},
		{"malformed secret", []string{"--store", st, "--pipeline", "p", "--blueprint", "bp", "--object", "pvc/ml/data", "--secret", "key"}, []string{"REF=NAMESPACE/NAME"}},
		{"stray argument", []string{"--store", st, "--pipeline", "p", ws}, []string{"--stage"}},
		{"all at once", []string{"--pipeline", "P", "--object", "pvc/x"}, []string{"--store", `"P"`, "--blueprint"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := testsupport.RunStep(ctx, t, snapshot.App(), tc.args...)
			if r.Code != exitcode.Usage {
				t.Fatalf("exit %d, want %d: %s", r.Code, exitcode.Usage, r.Stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("message does not mention %q: %s", w, r.Stderr)
				}
			}
			if strings.Contains(r.Stderr, "goroutine ") {
				t.Errorf("stack trace on a usage error: %s", r.Stderr)
			}
		})
	}
}

func TestSnapshotKanisterPreconditions(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	st := "file://" + t.TempDir()
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unknown blueprint", []string{"--object", c.f.Object(), "--blueprint", "nope"}, exitcode.Kanister, []string{"nope"}},
		{"unknown action", []string{"--object", c.f.Object(), "--blueprint", testsupport.FixtureBlueprint, "--action", "snapshot-all"}, exitcode.Kanister, []string{"snapshot-all"}},
		{"missing object", []string{"--object", "pvc/" + c.f.Namespace + "/gone", "--blueprint", testsupport.FixtureBlueprint}, exitcode.Precondition, []string{"pvc/" + c.f.Namespace + "/gone, does not exist", "nothing was started"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--store", st, "--pipeline", "p"}, tc.args...)
			r := testsupport.RunStep(ctx, t, snapshot.App(), append(args, c.flags...)...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d: %s", r.Code, tc.code, r.Stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("message does not mention %q: %s", w, r.Stderr)
				}
			}
		})
	}
	s, _ := storeurl.Open(ctx, st, storeurl.Options{})
	if ids, _ := restorepoint.List(ctx, s, "p"); len(ids) != 0 {
		t.Fatalf("failed snapshots left restore points %v", ids)
	}
}

func TestSnapshotWithoutPermission(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	nobody := testsupport.Kubeconfig(t, c.f.Kube.UserConfig(t, "nobody"))
	r := testsupport.RunStep(ctx, t, snapshot.App(), "--store", "file://"+t.TempDir(), "--pipeline", "p",
		"--object", c.f.Object(), "--blueprint", testsupport.FixtureBlueprint,
		"--kubeconfig", nobody, "--kanister-namespace", c.f.Namespace)
	if r.Code != exitcode.Permission {
		t.Fatalf("exit %d, want %d: %s", r.Code, exitcode.Permission, r.Stderr)
	}
	for _, w := range []string{"create", "actionsets", c.f.Namespace} {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("message does not name %q: %s", w, r.Stderr)
		}
	}
}

func TestRestoreRefusals(t *testing.T) {
	ctx := context.Background()
	st := "file://" + t.TempDir()
	ws := testsupport.Workspace(t)
	snap := testsupport.RunStep(ctx, t, snapshot.App(), "--store", st, "--pipeline", "alpha", "--stage", ws)
	if snap.Code != 0 {
		t.Fatalf("snapshot exit %d: %s", snap.Code, snap.Stderr)
	}
	rp := snap.Output(t, "restore-point")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"other pipeline", []string{"--pipeline", "beta", "--restore-point", rp}, exitcode.Conflict, "--allow-other-pipeline"},
		{"not found", []string{"--pipeline", "alpha", "--restore-point", "rp-20000101-000000.000-abcdef"}, exitcode.Precondition, "catalog list"},
		{"no restore points", []string{"--pipeline", "gamma", "--latest"}, exitcode.Precondition, "no restore point"},
		{"malformed ID", []string{"--pipeline", "alpha", "--restore-point", "../x"}, exitcode.Usage, "malformed"},
		{"neither", []string{"--pipeline", "alpha"}, exitcode.Usage, "--latest"},
		{"both", []string{"--pipeline", "alpha", "--latest", "--restore-point", rp}, exitcode.Usage, "exclude"},
		{"unknown --to", []string{"--pipeline", "alpha", "--restore-point", rp, "--to", "/nowhere=/tmp/x"}, exitcode.Usage, "staged no such path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := testsupport.RunStep(ctx, t, restore.App(), append([]string{"--store", st}, tc.args...)...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d: %s", r.Code, tc.code, r.Stderr)
			}
			if !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("message does not mention %q: %s", tc.want, r.Stderr)
			}
		})
	}
	r := testsupport.RunStep(ctx, t, restore.App(), "--store", st, "--pipeline", "beta", "--restore-point", rp, "--allow-other-pipeline")
	if r.Code != 0 {
		t.Fatalf("--allow-other-pipeline: exit %d: %s", r.Code, r.Stderr)
	}
}
