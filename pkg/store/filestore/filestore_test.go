package filestore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		st, err := New(t.TempDir(), false)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		root   string
		create bool
		ok     bool
	}{
		{"existing", dir, false, true},
		{"relative", "rel/path", true, false},
		{"missing", filepath.Join(dir, "missing"), false, false},
		{"missing created", filepath.Join(dir, "made"), true, true},
		{"a file", file, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.root, c.create)
			if (err == nil) != c.ok {
				t.Errorf("New(%q, %v) = %v, want ok=%v", c.root, c.create, err, c.ok)
			}
		})
	}
}

func TestRejectsEscapingKeys(t *testing.T) {
	st, err := New(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"../x", "/abs", "a/../../b", "a/.hidden", "", "a//b"} {
		err := st.Put(context.Background(), key, strings.NewReader("x"), 1)
		if err == nil {
			t.Errorf("Put(%q) succeeded, want an error", key)
		}
	}
}

func TestNoTempFilesLeft(t *testing.T) {
	root := t.TempDir()
	st, err := New(root, false)
	if err != nil {
		t.Fatal(err)
	}
	// A short body is an error and must leave nothing behind.
	if err := st.Put(context.Background(), "k", strings.NewReader("abc"), 10); err == nil {
		t.Fatal("Put with a short body succeeded")
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}

// Objects are readable by pods with other UIDs, and the temporary files of
// a killed writer are removed once they are clearly stale.
func TestSharedAndTidy(t *testing.T) {
	root := t.TempDir()
	st, err := New(root, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Put(ctx, "a/b", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "a", "b"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("object mode %v (%v), want 0644", fi.Mode().Perm(), err)
	}
	stale, fresh := filepath.Join(root, "a", tmpPrefix+"stale"), filepath.Join(root, "a", tmpPrefix+"fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTemp)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if err := st.List(ctx, "a/", func(store.Info) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a temporary file that may be in use was removed: %v", err)
	}
}
