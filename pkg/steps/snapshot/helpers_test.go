package snapshot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

func TestMain(m *testing.M) { testsupport.Main(m) }

// stepRun is one in-process run of a step, as Argo would run its binary.
type stepRun struct {
	code           int
	stdout, stderr string
	outputs        string // the --outputs-dir
}

func (r stepRun) output(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.outputs, name))
	if err != nil {
		t.Fatalf("output %s: %v (stderr: %s)", name, err, r.stderr)
	}
	return string(b)
}

func (r stepRun) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("stdout is not one JSON line: %q (stderr: %s)", r.stdout, r.stderr)
	}
	return v
}

func run(ctx context.Context, t testing.TB, app *cli.App, args ...string) stepRun {
	t.Helper()
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	app.Writer = &stdout
	full := append([]string{app.Name, "--outputs-dir", out}, args...)
	code := stepcli.Run(ctx, app, full, &stderr)
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	t.Logf("%s exit %d: %s", app.Name, code, lines[len(lines)-1])
	return stepRun{code: code, stdout: strings.TrimSpace(stdout.String()), stderr: stderr.String(), outputs: out}
}

// workspace writes a small training workspace and returns its path.
func workspace(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "workspace")
	files := map[string]string{
		"data/shard-0.bin":    strings.Repeat("a", 4096),
		"data/shard-1.bin":    strings.Repeat("b", 70000),
		"ckpt/epoch-1.pt":     "weights-1",
		"metrics/loss.json":   `{"loss": 0.5}`,
		"config/hparams.yaml": "lr: 0.001\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("epoch-1.pt", filepath.Join(dir, "ckpt/latest.pt")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// snapshotOf reads a directory into path → content ("->target" for links).
func snapshotOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			out[rel] = "->" + target
			return err
		case info.IsDir():
			out[rel+"/"] = info.Mode().Perm().String()
		default:
			b, err := os.ReadFile(p)
			out[rel] = info.Mode().Perm().String() + ":" + string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, want, got map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %.40q, want %.40q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: present after restore but not in the snapshot", k)
		}
	}
}
