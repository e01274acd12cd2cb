package tree

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/filestore"
	"github.com/mlstate/mlstate/pkg/store/s3store"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// removeChildEnv makes the test binary remove the tree it names and exit:
// TestRemoveReadOnlyTree runs it as an unprivileged user when the tests run
// as root, since root ignores the permissions under test.
const removeChildEnv = "MLSTATE_TREE_TEST_REMOVE"

func TestMain(m *testing.M) {
	if dir := os.Getenv(removeChildEnv); dir != "" {
		if err := removeOldTree(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	testsupport.Main(m)
}

// eachStore runs fn against a fresh file store and a fresh bucket on the
// real MinIO server.
func eachStore(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Run("file", func(t *testing.T) {
		st, err := filestore.New(t.TempDir(), false)
		if err != nil {
			t.Fatal(err)
		}
		fn(t, st)
	})
	t.Run("minio", func(t *testing.T) {
		fn(t, minioStore(t)) // skips under -short, fails in CI without the server
	})
}

func minioStore(t testing.TB) store.Store {
	s := testsupport.MinIO(t)
	st, err := s3store.New(context.Background(), s3store.Config{
		Endpoint: s.Endpoint, Bucket: s.Bucket(t), Prefix: "mlstate", AccessKey: s.AccessKey, SecretKey: s.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func randBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

var epoch = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// writeFile writes p under root with a fixed mode and mtime.
func writeFile(t testing.TB, root, p string, data []byte, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	abs := filepath.Join(root, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(abs, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(abs, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(abs, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// sampleTree builds a directory with every kind of entry a tree holds.
func sampleTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeFile(t, root, "data/shard-0", randBytes(1, 100<<10), 0o644, epoch)
	writeFile(t, root, "data/shard-1", randBytes(2, 100<<10), 0o600, epoch.Add(time.Second))
	writeFile(t, root, "ckpt/model.bin", randBytes(3, 6<<20), 0o640, epoch.Add(2*time.Second)) // several chunks
	writeFile(t, root, "empty", nil, 0o644, epoch)
	writeFile(t, root, "bin/run", []byte("#!/bin/sh\n"), 0o755|fs.ModeSetgid, epoch)
	for _, d := range []string{"empty-dir/nested", "locked"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, root, "locked/readonly", []byte("ro"), 0o400, epoch)
	if err := os.Chmod(filepath.Join(root, "locked"), 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(root, "locked"), 0o755) })
	if err := os.Symlink("../data/shard-0", filepath.Join(root, "ckpt/latest")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/absolute", filepath.Join(root, "dangling")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"empty-dir/nested", "empty-dir", "ckpt", "data", "bin"} {
		ts := epoch.Add(time.Hour)
		if err := os.Chtimes(filepath.Join(root, d), ts, ts); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

type snap struct {
	mode   fs.FileMode
	mtime  int64
	data   []byte
	target string
}

// snapshotDir describes every entry under root for comparison.
func snapshotDir(t *testing.T, root string) map[string]snap {
	t.Helper()
	out := map[string]snap{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		s := snap{mode: fi.Mode(), mtime: fi.ModTime().UnixNano()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			s.target, _ = os.Readlink(p)
		case fi.Mode().IsRegular():
			if s.data, err = os.ReadFile(p); err != nil {
				return err
			}
		}
		out[filepath.ToSlash(rel)] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertSameDir(t *testing.T, want, got map[string]snap) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%s: missing", p)
		case g.mode != w.mode:
			t.Errorf("%s: mode %v, want %v", p, g.mode, w.mode)
		case g.mtime != w.mtime && w.mode&fs.ModeDir == 0:
			t.Errorf("%s: mtime %d, want %d", p, g.mtime, w.mtime)
		case !bytes.Equal(g.data, w.data):
			t.Errorf("%s: content differs (%d bytes, want %d)", p, len(g.data), len(w.data))
		case g.target != w.target:
			t.Errorf("%s: target %q, want %q", p, g.target, w.target)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: not expected", p)
		}
	}
}

func push(t *testing.T, st store.Store, dir string, opts PushOptions) PushResult {
	t.Helper()
	res, err := Push(context.Background(), st, dir, opts)
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	return res
}

// leftovers lists staging directories a pull left next to or inside dir.
func leftovers(t *testing.T, dir string) []string {
	var out []string
	for _, d := range []string{filepath.Dir(dir), dir} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if strings.Contains(e.Name(), stagePrefix) {
				out = append(out, e.Name())
			}
		}
	}
	return out
}

func storeFromDir(root string) (store.Store, error) { return filestore.New(root, false) }
