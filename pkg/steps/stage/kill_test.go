package stage

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/testsupport"
)

// TestKilledPullLeavesTargetUnchanged kills a real `stage pull` process
// (SIGKILL: no cleanup runs) while it downloads, and checks that the target
// directory is exactly as before.
func TestKilledPullLeavesTargetUnchanged(t *testing.T) {
	s := testsupport.MinIO(t)
	s.SetEnv(t)
	store := s.StoreURL(t, "")
	src, outs := t.TempDir(), t.TempDir()
	big := make([]byte, 48<<20)
	rand.New(rand.NewSource(1)).Read(big)
	writeFile(t, src, "ckpt/model.bin", string(big))
	if r := run(t, "push", "--store", store, "--outputs-dir", outs, src); r.code != 0 {
		t.Fatal(r.stderr)
	}
	id := readOutput(t, outs, "tree")

	parent := t.TempDir()
	target := filepath.Join(parent, "target")
	writeFile(t, target, "ckpt/model.bin", "the old checkpoint")
	writeFile(t, target, "notes", "keep")

	cmd := exec.Command(os.Args[0], "pull", "--store", store, "--tree", id, "--concurrency", "1", "--outputs-dir", outs, target)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	staged := waitForStaging(t, parent, 30*time.Second)
	if !staged {
		cmd.Process.Kill()
		t.Fatalf("pull never staged; stderr: %s", stderr.String())
	}
	time.Sleep(20 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if err == nil {
		t.Fatal("pull finished before it was killed; make the tree bigger")
	}
	for rel, want := range map[string]string{"ckpt/model.bin": "the old checkpoint", "notes": "keep"} {
		if b, err := os.ReadFile(filepath.Join(target, rel)); err != nil || string(b) != want {
			t.Errorf("%s changed by a killed pull: %q, %v", rel, b, err)
		}
	}
	// The next pull succeeds and replaces the target.
	if r := run(t, "pull", "--store", store, "--tree", id, "--delete", "--outputs-dir", outs, target); r.code != 0 {
		t.Fatalf("pull after a killed pull: %s", r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "ckpt/model.bin")); !bytes.Equal(b, big) {
		t.Error("second pull did not restore the checkpoint")
	}
}

func waitForStaging(t *testing.T, dir string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".mlstate-pull-") {
				return true
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}
