package testsupport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/stepcli"
)

// StepRun is one in-process run of a step's command line, as Argo would run
// its binary: exit code, stdout, stderr, and the outputs directory.
type StepRun struct {
	Code           int
	Stdout, Stderr string
	// Values is the last JSON line on stdout (the step's result), or nil.
	Values map[string]any
	// OutputsDir holds the output-parameter files.
	OutputsDir string
}

// RunStep runs app with args (after the program name) and empty stdin, and
// logs the run. When the app has a top-level --outputs-dir, a fresh one is
// placed first (a later --outputs-dir in args wins).
func RunStep(ctx context.Context, t testing.TB, app *cli.App, args ...string) StepRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app.Writer, app.Reader = &stdout, strings.NewReader("")
	full := []string{app.Name}
	var out string
	for _, f := range app.Flags {
		if slices.Contains(f.Names(), "outputs-dir") {
			out = t.TempDir()
			full = append(full, "--outputs-dir", out)
		}
	}
	full = append(full, args...)
	code := stepcli.Run(ctx, app, full, &stderr)
	r := StepRun{Code: code, Stdout: stdout.String(), Stderr: stderr.String(), OutputsDir: out}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r.Values); err != nil {
		r.Values = nil
	}
	t.Logf("%s %s\n-> exit %d\nstdout: %s\nstderr: %s", app.Name, strings.Join(args, " "), code, r.Stdout, r.Stderr)
	return r
}

// Output reads one output-parameter file.
func (r StepRun) Output(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.OutputsDir, name))
	if err != nil {
		t.Fatalf("output %s: %v (stderr: %s)", name, err, r.Stderr)
	}
	return string(b)
}

// WriteFiles replaces dir's content with files (relative path → content).
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Workspace makes a small training workspace (nested files, an empty file,
// a binary checkpoint larger than one chunk's minimum, a symlink) and
// returns its path.
func Workspace(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "workspace")
	WriteFiles(t, dir, map[string]string{
		"config.yaml":       "lr: 0.001\n",
		"ckpt/epoch-1.pt":   strings.Repeat("\x00\x01weights", 40000),
		"ckpt/empty":        "",
		"data/shard-0.bin":  strings.Repeat("a", 4096),
		"data/shard-1.bin":  strings.Repeat("b", 70000),
		"metrics/loss.json": `{"loss": 0.5}`,
	})
	if err := os.Symlink("epoch-1.pt", filepath.Join(dir, "ckpt/latest.pt")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Fingerprint maps every path under dir to its type, mode and content digest
// (or link target): equal fingerprints mean byte-identical trees.
func Fingerprint(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			out[rel] = "link " + target
			return err
		case d.IsDir():
			out[rel] = "dir " + info.Mode().Perm().String()
		default:
			b, err := os.ReadFile(p)
			sum := sha256.Sum256(b)
			out[rel] = "file " + info.Mode().Perm().String() + " " + hex.EncodeToString(sum[:8])
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SameFingerprint fails the test, naming each difference, unless the two
// fingerprints are equal.
func SameFingerprint(t testing.TB, want, got map[string]string) {
	t.Helper()
	if maps.Equal(want, got) {
		return
	}
	keys := slices.Sorted(maps.Keys(want))
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if want[k] != got[k] {
			t.Errorf("%s: want %q, got %q", k, want[k], got[k])
		}
	}
	t.Fatal("the directory is not what was snapshotted")
}
