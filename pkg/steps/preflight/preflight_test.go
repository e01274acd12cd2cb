package preflight_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/preflight/preflighttest"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/preflight"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

func TestMain(m *testing.M) { testsupport.Main(m) }

type result struct {
	code           int
	stdout, stderr string
	outputs        string
}

func (r result) file(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.outputs, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func runStep(t *testing.T, args ...string) result {
	t.Helper()
	r := result{outputs: t.TempDir()}
	var stdout, stderr bytes.Buffer
	app := preflight.App()
	app.Writer = &stdout
	args = append([]string{"preflight", "--outputs-dir", r.outputs}, args...)
	r.code = stepcli.Run(context.Background(), app, args, &stderr)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	t.Logf("exit %d\nstderr:\n%s\nstdout: %s", r.code, r.stderr, r.stdout)
	return r
}

// setup returns the all-fine flags, run as the RBAC-limited user.
func setup(t *testing.T) (*preflighttest.Env, []string) {
	e := preflighttest.Setup(t)
	e.MinIO.SetEnv(t)
	return e, append(e.Args(), "--kubeconfig", testsupport.Kubeconfig(t, e.User))
}

func TestAllFine(t *testing.T) {
	_, args := setup(t)
	r := runStep(t, args...)
	if r.code != exitcode.OK {
		t.Fatalf("exit %d, want 0", r.code)
	}
	var out struct {
		OK     bool   `json:"ok"`
		Status string `json:"status"`
		Checks []struct {
			ID, Status string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("stdout is not one JSON line: %v", err)
	}
	if !out.OK || out.Status != "ok" || len(out.Checks) < 12 {
		t.Errorf("result %+v, want ok with every check", out)
	}
	if got := r.file(t, "ok"); got != "true" {
		t.Errorf("ok file %q, want true", got)
	}
	if got := r.file(t, "status"); got != "ok" {
		t.Errorf("status file %q, want ok", got)
	}
	if !strings.Contains(r.stderr, "[ok] Kanister controller: deployment") {
		t.Errorf("stderr lacks the checklist")
	}
}

func TestBroken(t *testing.T) {
	_, args := setup(t)
	r := runStep(t, append(args, "--blueprint", "not-applied")...)
	if r.code != exitcode.Precondition {
		t.Fatalf("exit %d, want %d", r.code, exitcode.Precondition)
	}
	if got := r.file(t, "ok"); got != "false" {
		t.Errorf("ok file %q, want false", got)
	}
	for _, want := range []string{"[broken] Blueprint: blueprint", "not found. Do: apply it there", "preflight: broken: Blueprint; fix them before training"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if !strings.Contains(r.stdout, `"status":"broken"`) {
		t.Errorf("stdout lacks the broken status")
	}
}

func TestWarnings(t *testing.T) {
	e := preflighttest.Setup(t)
	e.MinIO.SetEnv(t)
	// Without --pipeline the latest restore point is not checked: a warning.
	args := []string{"--store", e.StoreURL, "--stage", e.Stage}
	r := runStep(t, args...)
	if r.code != exitcode.OK || r.file(t, "ok") != "true" || r.file(t, "status") != "warning" {
		t.Errorf("warnings only: exit %d, ok %q, status %q; want 0, true, warning", r.code, r.file(t, "ok"), r.file(t, "status"))
	}
	r = runStep(t, append(args, "--fail-on-warning")...)
	if r.code != exitcode.Warnings || r.file(t, "ok") != "false" {
		t.Errorf("--fail-on-warning: exit %d, ok %q; want %d, false", r.code, r.file(t, "ok"), exitcode.Warnings)
	}
	if !strings.Contains(r.stderr, "preflight: warnings (--fail-on-warning): Latest restore point") {
		t.Errorf("stderr does not name the warning")
	}
}

func TestUsage(t *testing.T) {
	cases := [][]string{
		{"--store", "file:///tmp/x", "--profile", "no-namespace"},
		{"--store", "file:///tmp/x", "--secret", "encryptionKey"},
		{"--store", "file:///tmp/x", "--pipeline", "Not Valid"},
		{"--store", "file:///tmp/x", "extra-arg"},
	}
	for _, args := range cases {
		if r := runStep(t, args...); r.code != exitcode.Usage {
			t.Errorf("%v: exit %d, want %d", args, r.code, exitcode.Usage)
		}
	}
}
