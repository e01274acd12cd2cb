package tree

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
)

// A push from a pod whose clock runs a year ahead must not stay "latest".
func TestLatestByStoreTimeNotClientClock(t *testing.T) {
	ctx := context.Background()
	st, root := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "f", []byte("skewed"), 0o644, epoch)
	skewed := push(t, st, src, PushOptions{Name: "n", Now: func() time.Time { return time.Now().AddDate(1, 0, 0) }})
	// The skewed push was stored a minute ago (by the store's clock).
	h, err := History(ctx, st, "n")
	if err != nil || len(h) != 1 {
		t.Fatal(h, err)
	}
	_ = st.List(ctx, "names/n/", func(info store.Info) error { age(t, root, info.Key, time.Minute); return nil })
	writeFile(t, src, "f", []byte("correct clock, later"), 0o644, epoch)
	later := push(t, st, src, PushOptions{Name: "n"})
	if later.Parent != skewed.ID {
		t.Errorf("parent of the later push = %s, want the skewed push %s", later.Parent.Short(), skewed.ID.Short())
	}
	if id, _, _ := LastByName(ctx, st, "n"); id != later.ID {
		t.Errorf("LastByName = %s, want the push stored last %s", id.Short(), later.ID.Short())
	}
	if named, _ := LatestNamed(ctx, st); named["n"] != later.ID {
		t.Errorf("LatestNamed = %s, want %s", named["n"].Short(), later.ID.Short())
	}
}

// A parent that is gone or damaged makes a full push with a warning, not a
// failure of every later push.
func TestMissingParentFallsBack(t *testing.T) {
	ctx := context.Background()
	st, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "f", []byte("x"), 0o644, epoch)
	first := push(t, st, src, PushOptions{Name: "n"})
	if err := st.Delete(ctx, treeKey(first.ID)); err != nil {
		t.Fatal(err)
	}
	res, err := Push(ctx, st, src, PushOptions{Name: "n"})
	if err != nil {
		t.Fatalf("push whose parent is gone = %v, want a full push", err)
	}
	if !res.Parent.IsZero() || res.BytesRead != 1 {
		t.Errorf("push without its parent: %+v, want no parent and every file read", res)
	}
}

// A file rewritten (same size) within a timestamp tick of the parent's push
// keeps its mtime; the next push must read it, not trust size+mtime.
func TestRacyMTimeReread(t *testing.T) {
	ctx := context.Background()
	st, _ := newFileStore(t)
	src := t.TempDir()
	now := time.Now()
	writeFile(t, src, "f", []byte("first"), 0o644, now)
	writeFile(t, src, "old", []byte("settled"), 0o644, epoch)
	push(t, st, src, PushOptions{Name: "n"})
	writeFile(t, src, "f", []byte("again"), 0o644, now) // same size, same mtime
	res := push(t, st, src, PushOptions{Name: "n"})
	if res.FilesReused != 1 {
		t.Errorf("%d files reused, want only the settled one", res.FilesReused)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if _, err := Pull(ctx, st, res.ID, dst, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "f")); string(b) != "again" {
		t.Errorf("f pulled as %q, want the rewritten content", b)
	}
}
