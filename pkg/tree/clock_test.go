package tree

import (
	"context"
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
