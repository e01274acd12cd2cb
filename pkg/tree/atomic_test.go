package tree

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Once the new tree is switched in, failing to remove the old one is a
// warning: the pull did what it promised.
func TestPullCleanupFailureIsWarning(t *testing.T) {
	st, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "f", []byte("new"), 0o644, epoch)
	res := push(t, st, src, PushOptions{})
	dir, _ := existingTarget(t)
	old := removeOldTree
	removeOldTree = func(string) error { return errors.New("injected: cannot remove") }
	t.Cleanup(func() { removeOldTree = old })
	var logs bytes.Buffer
	_, err := Pull(context.Background(), st, res.ID, dir, PullOptions{Delete: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Pull whose cleanup failed after the switch = %v, want success", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "new" {
		t.Errorf("target not switched: f = %q", b)
	}
	if !strings.Contains(logs.String(), "injected: cannot remove") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("no warning about the failed cleanup:\n%s", logs.String())
	}
	removeOldTree = old
	leftover := leftovers(t, dir)
	if len(leftover) != 1 {
		t.Fatalf("leftovers %v, want the old tree that could not be removed", leftover)
	}
}

// Old trees that are read-only (dirs without write permission) are removed
// too. Root ignores permissions, so as root the removal runs in a child
// process as user nobody (65534), who owns the tree.
func TestRemoveReadOnlyTree(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "old")
	writeFile(t, dir, "ro/inner/f", []byte("x"), 0o444, epoch)
	for _, d := range []string{"ro/inner", "ro"} {
		if err := os.Chmod(filepath.Join(dir, d), 0o555); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() != 0 {
		if err := removeOldTree(dir); err != nil {
			t.Fatalf("remove a read-only tree: %v", err)
		}
	} else {
		const nobody = 65534
		var err error
		for _, p := range []string{filepath.Dir(base), base} {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		err = filepath.WalkDir(base, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, nobody, nobody)
		})
		if err != nil {
			t.Fatal(err)
		}
		// The test binary sits in a directory only root may enter.
		bin, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		child := filepath.Join(filepath.Dir(base), "tree.test")
		if err := os.WriteFile(child, bin, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(child, "-test.run=^$")
		cmd.Env = append(os.Environ(), removeChildEnv+"="+dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("remove a read-only tree as user %d: %v: %s", nobody, err, out)
		}
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("tree still there: %v", err)
	}
}

// A staging directory left by a killed pull is not pushed as data.
func TestPushSkipsPullLeftovers(t *testing.T) {
	st, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "data", []byte("real"), 0o644, epoch)
	writeFile(t, src, stagePrefix+"src-123/half-pulled", []byte("junk"), 0o644, epoch)
	var logs bytes.Buffer
	res, err := Push(context.Background(), st, src, PushOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := Load(context.Background(), st, res.ID)
	for _, e := range m.Entries {
		if strings.Contains(e.Path, stagePrefix) {
			t.Errorf("pushed a pull's staging directory: %s", e.Path)
		}
	}
	if res.Skipped != 1 || !strings.Contains(logs.String(), stagePrefix+"src-123") {
		t.Errorf("leftover skipped silently: skipped=%d, log:\n%s", res.Skipped, logs.String())
	}
}

// A switch by two renames (file systems without RENAME_EXCHANGE) killed
// between them leaves the target missing and the old tree under a .old
// name: the next pull or push puts it back.
func TestInterruptedFallbackSwitchRecovered(t *testing.T) {
	st, _ := newFileStore(t)
	dir, before := existingTarget(t)
	old := filepath.Join(filepath.Dir(dir), stagePrefix+filepath.Base(dir)+"-123.old")
	if err := os.Rename(dir, old); err != nil { // killed right after the first rename
		t.Fatal(err)
	}
	if _, err := Push(context.Background(), st, dir, PushOptions{}); err != nil {
		t.Fatalf("push after an interrupted switch: %v", err)
	}
	assertUntouched(t, dir, before)

	// Killed after the second rename: the new tree is in place, the old
	// one is left under .old and goes.
	if err := os.Mkdir(old, 0o755); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	writeFile(t, src, "f", []byte("x"), 0o644, epoch)
	res := push(t, st, src, PushOptions{})
	if _, err := Pull(context.Background(), st, res.ID, dir, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

// The staging directory of a killed pull is removed by the next pull; one
// that a running pull holds is not.
func TestPullRemovesDeadLeftovers(t *testing.T) {
	st, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "f", []byte("x"), 0o644, epoch)
	res := push(t, st, src, PushOptions{})
	dir, _ := existingTarget(t)
	parent := filepath.Dir(dir)
	dead := filepath.Join(parent, stagePrefix+"target-dead")
	writeFile(t, dead, "half/pulled", []byte("junk"), 0o644, epoch)
	live, lock, err := lockedStage(parent, "target")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := Pull(context.Background(), st, res.ID, dir, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dead); !os.IsNotExist(err) {
		t.Errorf("leftover of a dead pull still there: %v", err)
	}
	if _, err := os.Lstat(live); err != nil {
		t.Errorf("staging directory of a running pull removed: %v", err)
	}
}

// setuid and setgid bits of files are not restored unless asked.
func TestPullDropsSetID(t *testing.T) {
	st, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "suid", []byte("#!/bin/sh\n"), 0o755|os.ModeSetuid, epoch)
	writeFile(t, src, "sgid", []byte("#!/bin/sh\n"), 0o755|os.ModeSetgid, epoch)
	res := push(t, st, src, PushOptions{})
	dst := filepath.Join(t.TempDir(), "out")
	if _, err := Pull(context.Background(), st, res.ID, dst, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"suid", "sgid"} {
		fi, err := os.Stat(filepath.Join(dst, f))
		if err != nil || fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s restored as %v (%v), want 0755 without setuid/setgid", f, fi.Mode(), err)
		}
	}
}
