package tree

import (
	"context"
	"errors"
	"testing"

	"github.com/mlstate/mlstate/pkg/store"
)

func TestForget(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		src := t.TempDir()
		writeFile(t, src, "a", []byte("one"), 0o644, epoch)
		first := push(t, st, src, PushOptions{Name: "pvc"})
		writeFile(t, src, "a", []byte("second"), 0o644, epoch) // another size: same-mtime files are matched by size
		second := push(t, st, src, PushOptions{Name: "pvc"})
		// The same content pushed again records the same tree a second time.
		if again := push(t, st, src, PushOptions{Name: "pvc"}); again.ID != second.ID {
			t.Fatalf("unchanged push made tree %s, want %s", again.ID.Short(), second.ID.Short())
		}

		n, err := Forget(ctx, st, "pvc", second.ID)
		if err != nil || n != 2 {
			t.Fatalf("Forget(second) = %d, %v; want both of its records deleted", n, err)
		}
		last, ok, err := LastByName(ctx, st, "pvc")
		if err != nil || !ok || last != first.ID {
			t.Fatalf("after forgetting the latest tree the name points at %s (found %v, %v); want the first tree %s", last.Short(), ok, err, first.ID.Short())
		}
		if _, err := Load(ctx, st, second.ID); err != nil {
			t.Errorf("Forget deleted the tree itself (only a sweep may): %v", err)
		}
		if n, err := Forget(ctx, st, "pvc", second.ID); err != nil || n != 0 {
			t.Errorf("forgetting it again = %d, %v; want 0, nil", n, err)
		}
		if n, err := Forget(ctx, st, "pvc", first.ID); err != nil || n != 1 {
			t.Errorf("Forget(first) = %d, %v; want 1", n, err)
		}
		if _, ok, err := LastByName(ctx, st, "pvc"); err != nil || ok {
			t.Errorf("the name still has a latest tree (%v, %v) after every tree was forgotten", ok, err)
		}
		if _, err := Forget(ctx, st, "../x", first.ID); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Forget with a bad name: %v, want ErrInvalidName", err)
		}
	})
}
