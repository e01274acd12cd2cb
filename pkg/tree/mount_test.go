package tree

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlstate/mlstate/pkg/testsupport"
)

// mountTmpfs mounts a small tmpfs at dir for the test (see
// testsupport.MountTmpfs).
func mountTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	testsupport.MountTmpfs(t, dir, size)
}

func TestPushStaysOnOneFileSystem(t *testing.T) {
	st, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "own", []byte("on the root's file system"), 0o644, epoch)
	vol := filepath.Join(src, "vol")
	mountTmpfs(t, vol, "1m")
	writeFile(t, vol, "other", []byte("on a mounted volume"), 0o644, epoch)

	var logs bytes.Buffer
	res, err := Push(context.Background(), st, src, PushOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := Load(context.Background(), st, res.ID)
	var paths []string
	for _, e := range m.Entries {
		paths = append(paths, e.Path)
	}
	if strings.Join(paths, ",") != "own,vol" {
		t.Errorf("pushed %v, want own and the mount point vol without its content", paths)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), vol) {
		t.Errorf("skipped mount not warned about:\n%s", logs.String())
	}
	res, err = Push(context.Background(), st, src, PushOptions{CrossMounts: true})
	if err != nil || res.Files != 2 {
		t.Errorf("push with CrossMounts: %+v, %v; want both files", res, err)
	}
}

// A pull replaces the target directory; a volume mounted inside it must
// be neither moved nor emptied.
func TestPullRefusesNestedMount(t *testing.T) {
	st, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "f", []byte("new"), 0o644, epoch)
	res := push(t, st, src, PushOptions{})
	dir, _ := existingTarget(t)
	vol := filepath.Join(dir, "keep", "vol")
	mountTmpfs(t, vol, "1m")
	writeFile(t, vol, "precious", []byte("on the volume"), 0o644, epoch)
	_, err := Pull(context.Background(), st, res.ID, dir, PullOptions{Delete: true})
	if !errors.Is(err, ErrBadSource) || !strings.Contains(err.Error(), vol) {
		t.Errorf("Pull over a nested mount = %v, want ErrBadSource naming %s", err, vol)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "precious")); err != nil || string(b) != "on the volume" {
		t.Errorf("volume content after the pull: %q, %v", b, err)
	}
}

// A pull into a mount point switches entry by entry; killed half way, it
// leaves a journal, and the next push (or pull) finishes the switch before
// anything else, so no half-switched directory is ever snapshotted.
func TestInterruptedMountSwitchFinished(t *testing.T) {
	st, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "a/new", []byte("new a"), 0o644, epoch)
	writeFile(t, src, "b", []byte("new b"), 0o644, epoch)
	res := push(t, st, src, PushOptions{})
	want := snapshotDir(t, src)

	target := filepath.Join(t.TempDir(), "workspace")
	mountTmpfs(t, target, "4m")
	writeFile(t, target, "a/old", []byte("old a"), 0o644, epoch)
	writeFile(t, target, "b", []byte("old b"), 0o644, epoch)
	writeFile(t, target, "extra", []byte("not in the tree"), 0o644, epoch)

	// Stage the tree as a pull would, journal the switch, then "die"
	// after the first entry moved.
	flat, root, err := loadRoot(context.Background(), st, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	stage, lock, err := lockedStage(target, filepath.Base(target))
	if err != nil {
		t.Fatal(err)
	}
	mat, err := materialize(context.Background(), st, flat, root, stage, PullOptions{Concurrency: 2, Logger: slog.New(slog.DiscardHandler), Progress: nopCounter{}}, &PullResult{ID: res.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := mat.finishDirs(stage); err != nil {
		t.Fatal(err)
	}
	if _, err := writeJournal(stage, []string{"a", "b"}, true); err != nil {
		t.Fatal(err)
	}
	if err := replace(filepath.Join(stage, "a"), filepath.Join(target, "a")); err != nil {
		t.Fatal(err)
	}
	lock.Close() // killed

	var logs bytes.Buffer
	pres, err := Push(context.Background(), st, target, PushOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if pres.ID != res.ID {
		t.Errorf("push after the interrupted switch stored %s, want the pulled tree %s (log:\n%s)", pres.ID.Short(), res.ID.Short(), logs.String())
	}
	assertSameDir(t, want, snapshotDir(t, target))
	if !strings.Contains(logs.String(), "finishing it") {
		t.Errorf("finishing the switch was not logged:\n%s", logs.String())
	}
}

// lost+found at a volume's root (ext4 PVCs have one, root-owned, 0700) is
// neither pushed nor removed by a pull with Delete; elsewhere it is data.
func TestLostFoundAtTheVolumeRoot(t *testing.T) {
	st, _ := newFileStore(t)
	vol := filepath.Join(t.TempDir(), "vol")
	mountTmpfs(t, vol, "1m")
	if err := os.Mkdir(filepath.Join(vol, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, vol, "lost+found/#1234", []byte("an orphaned inode"), 0o600, epoch)
	writeFile(t, vol, "ckpt", []byte("weights"), 0o644, epoch)
	writeFile(t, vol, "sub/lost+found/x", []byte("not at the root: data"), 0o644, epoch)

	res := push(t, st, vol, PushOptions{})
	m, err := Load(context.Background(), st, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range m.Entries {
		paths = append(paths, e.Path)
	}
	if got := strings.Join(paths, ","); got != "ckpt,sub,sub/lost+found,sub/lost+found/x" {
		t.Errorf("pushed %s; want everything but the root's lost+found", got)
	}

	writeFile(t, vol, "added-by-training", []byte("x"), 0o644, epoch)
	if _, err := Pull(context.Background(), st, res.ID, vol, PullOptions{Delete: true}); err != nil {
		t.Fatalf("Pull --delete into the volume root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(vol, "added-by-training")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the extra file survived a pull with Delete: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "lost+found/#1234")); err != nil || string(b) != "an orphaned inode" {
		t.Errorf("the volume's lost+found was touched by the pull: %q, %v", b, err)
	}

	// In a plain directory, lost+found is an ordinary name.
	plain := t.TempDir()
	writeFile(t, plain, "lost+found/f", []byte("data"), 0o644, epoch)
	if res := push(t, st, plain, PushOptions{}); res.Files != 1 {
		t.Errorf("a lost+found outside a volume root was skipped: %d files pushed, want 1", res.Files)
	}
}
