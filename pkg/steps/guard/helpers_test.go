package guard_test

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

	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/guard"
)

type result struct {
	code           int
	stdout, stderr string
	values         map[string]any // the JSON result line
}

// runGuard runs the guard step in-process with args (after "guard").
func runGuard(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	app := guard.App()
	app.Writer = &out
	app.Reader = strings.NewReader("")
	code := stepcli.Run(context.Background(), app, append([]string{"guard"}, args...), &errb)
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	r.values = lastJSON(r.stdout)
	t.Logf("guard %s\n-> exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, r.stdout, r.stderr)
	return r
}

func lastJSON(stdout string) map[string]any {
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var v map[string]any
	if len(lines) > 0 && json.Unmarshal([]byte(lines[len(lines)-1]), &v) == nil {
		return v
	}
	return nil
}

// workspace makes a directory with nested files, an empty file, a binary
// file and a symlink.
func workspace(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ws")
	files := map[string]string{
		"config.yaml":           "lr: 0.01\n",
		"ckpt/epoch-1.bin":      strings.Repeat("\x00\x01weights", 40000),
		"ckpt/empty":            "",
		"data/shard-0/part.txt": "hello\n",
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("ckpt/epoch-1.bin", filepath.Join(dir, "latest")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fingerprint maps every path under dir to its type, mode and content
// digest (or link target): equal fingerprints mean byte-identical trees.
func fingerprint(t *testing.T, dir string) map[string]string {
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
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		case d.IsDir():
			out[rel] = "dir " + info.Mode().Perm().String()
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = "file " + info.Mode().Perm().String() + " " + hex.EncodeToString(sum[:8])
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
	t.Fatal("the workspace is not what was snapshotted")
}

func fileStore(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return "file://" + dir
}

func readOutput(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
