package tree

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A stage directory is often a symlink to the volume (/data -> /mnt/vol).
func TestSymlinkedRoot(t *testing.T) {
	st, err := storeFromDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	real := sampleTree(t)
	want := snapshotDir(t, real)
	link := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	res := push(t, st, link, PushOptions{})
	if res.Files != 6 {
		t.Fatalf("push through a symlink: %d files, want 6", res.Files)
	}

	// Pull into a symlink: the directory it points at gets the tree; the
	// symlink stays a symlink.
	dstReal := t.TempDir()
	dstLink := filepath.Join(t.TempDir(), "restore")
	if err := os.Symlink(dstReal, dstLink); err != nil {
		t.Fatal(err)
	}
	if _, err := Pull(context.Background(), st, res.ID, dstLink, PullOptions{KeepSetID: true}); err != nil {
		t.Fatalf("Pull into a symlink: %v", err)
	}
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(dstReal, "locked"), 0o755) })
	if fi, err := os.Lstat(dstLink); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("pull target symlink replaced: %v %v", fi, err)
	}
	assertSameDir(t, want, snapshotDir(t, dstReal))

	// A dangling symlink is refused, naming the path.
	dangling := filepath.Join(t.TempDir(), "gone")
	if err := os.Symlink("/no/such/dir", dangling); err != nil {
		t.Fatal(err)
	}
	if _, err := Push(context.Background(), st, dangling, PushOptions{}); !errors.Is(err, ErrBadSource) {
		t.Errorf("push of a dangling symlink: %v, want ErrBadSource", err)
	}
	if _, err := Pull(context.Background(), st, res.ID, dangling, PullOptions{}); !errors.Is(err, ErrBadSource) {
		t.Errorf("pull into a dangling symlink: %v, want ErrBadSource", err)
	}
}
