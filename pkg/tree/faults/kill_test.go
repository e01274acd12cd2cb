package faults

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/snapshot"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/testsupport"
	"github.com/mlstate/mlstate/pkg/tree"
)

// child is a real step process: the test binary acting as `stage` or
// `catalog`.
func child(step string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"="+step)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

// runChild runs a step to its end, at most two minutes.
func runChild(t *testing.T, step string, args ...string) (time.Duration, string) {
	t.Helper()
	cmd, out := child(step, args...)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", step, strings.Join(args, " "), err, out)
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %s did not end within 2 minutes\n%s", step, strings.Join(args, " "), out)
	}
	return time.Since(start), out.String()
}

// killAt starts a step and SIGKILLs it after d (or lets it end first). It
// reports whether the kill hit a running process.
func killAt(t *testing.T, d time.Duration, step string, args ...string) bool {
	t.Helper()
	cmd, _ := child(step, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return false
	case <-time.After(d):
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not die within a minute of SIGKILL", step)
	}
	return true
}

type backendURL struct {
	name string
	url  string
	st   store.Store
}

func backends(t *testing.T) []backendURL {
	fs, furl := fileStore(t)
	s := testsupport.MinIO(t)
	s.SetEnv(t)
	bucket := s.Bucket(t)
	return []backendURL{
		{"file", furl, fs},
		{"minio", "s3://" + bucket + "?endpoint=" + s.URL, s3(t, s.Endpoint, s, bucket)},
	}
}

// seeded returns a random source for where to kill, logging its seed so a
// failing run can be replayed.
func seeded(t *testing.T) *rand.Rand {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	return rand.New(rand.NewSource(seed))
}

const kills = 2 // per backend and command: keeps the suite well under 2 minutes

// TestKilledStagePush kills `stage push` at random points, many of them
// while packs are being written; no index in the store ever names a
// missing or partial pack, and the next push succeeds and its tree is
// whole.
func TestKilledStagePush(t *testing.T) {
	c := newTally(t)
	r := seeded(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			src := t.TempDir()
			writeTree(t, src, sampleFiles(3, 8<<20))
			writeTree(t, src, smallFiles(r, 600, 8<<10))
			full, _ := runChild(t, "stage", "push", "--store", b.url, "--name", "p", src)
			for i := range kills {
				// Change the tree so each push has new chunks to upload:
				// a large file and 4.8 MiB of small ones (two packs).
				writeTree(t, src, map[string][]byte{"ckpt/model.bin": randomBytes(r, 8<<20)})
				writeTree(t, src, smallFiles(r, 600, 8<<10))
				if killAt(t, time.Duration(r.Int63n(int64(full))), "stage", "push", "--store", b.url, "--name", "p", src) {
					c.add(1)
				}
				t.Logf("kill %d: %d chunk locations in the store's indexes, all in whole packs", i, indexesSound(t, b.st, nil))
				outs := t.TempDir()
				runChild(t, "stage", "push", "--store", b.url, "--name", "p", "--outputs-dir", outs, src)
				id := readTree(t, outs)
				verified(t, b.st, id, testsupport.Fingerprint(t, src))
				t.Logf("kill %d: next push %s verified", i, id.Short())
			}
		})
	}
}

// TestKilledStagePull kills `stage pull` at random points: the target is
// the old tree or the whole new one, and the next pull succeeds and leaves
// no staging directory behind.
func TestKilledStagePull(t *testing.T) {
	c := newTally(t)
	r := seeded(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			src := t.TempDir()
			writeTree(t, src, sampleFiles(4, 8<<20))
			want := testsupport.Fingerprint(t, src)
			outs := t.TempDir()
			runChild(t, "stage", "push", "--store", b.url, "--outputs-dir", outs, src)
			id := readTree(t, outs)
			parent := t.TempDir()
			target := filepath.Join(parent, "target")
			for i := range kills {
				_ = os.RemoveAll(target)
				writeTree(t, target, map[string][]byte{"ckpt/model.bin": []byte("old checkpoint"), "notes": []byte("old")})
				old := testsupport.Fingerprint(t, target)
				args := []string{"pull", "--store", b.url, "--tree", id.String(), "--delete", target}
				full, _ := runChild(t, "stage", args...)
				_ = os.RemoveAll(target)
				writeTree(t, target, map[string][]byte{"ckpt/model.bin": []byte("old checkpoint"), "notes": []byte("old")})
				if killAt(t, time.Duration(r.Int63n(int64(full))), "stage", args...) {
					c.add(1)
				}
				got := testsupport.Fingerprint(t, target)
				if !equal(got, old) && !equal(got, want) {
					t.Fatalf("kill %d: the target is neither the old tree nor the new one", i)
				}
				runChild(t, "stage", args...)
				testsupport.SameFingerprint(t, want, testsupport.Fingerprint(t, target))
				if l := stagingDirs(t, parent); len(l) > 0 {
					t.Fatalf("kill %d: the next pull left %v behind", i, l)
				}
			}
		})
	}
}

// TestKilledPrune kills `catalog prune` at random points: every restore
// point it keeps stays whole, and the next prune succeeds.
func TestKilledPrune(t *testing.T) {
	c := newTally(t)
	r := seeded(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			var recs []*restorepoint.Record
			var prints []map[string]string
			for i := range kills + 2 {
				writeTree(t, dir, map[string][]byte{"ckpt/model.bin": randomBytes(r, 1<<20), "gen": []byte{byte(i)}})
				time.Sleep(3 * time.Millisecond) // restore point IDs have millisecond resolution
				rec, err := snapshot.Take(ctx, b.st, snapshot.Options{Pipeline: "train", Stage: []string{dir}, Workflow: restorepoint.Workflow{Name: "run"}})
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, rec)
				prints = append(prints, testsupport.Fingerprint(t, dir))
			}
			for i := range kills {
				keep := kills + 1 - i // one fewer each round
				args := []string{"prune", "--store", b.url, "--pipeline", "train", "--keep-last", itoa(keep), "--grace", "0"}
				dry, _ := runChild(t, "catalog", append(args, "--dry-run")...)
				if killAt(t, time.Duration(r.Int63n(int64(dry)*2)), "catalog", args...) {
					c.add(1)
				}
				kept := len(recs) - keep
				for j := kept; j < len(recs); j++ {
					id, err := tree.ParseID(recs[j].Trees[0].Tree)
					if err != nil {
						t.Fatal(err)
					}
					verified(t, b.st, id, prints[j])
				}
				runChild(t, "catalog", args...)
				for j := kept; j < len(recs); j++ {
					id, _ := tree.ParseID(recs[j].Trees[0].Tree)
					verified(t, b.st, id, prints[j])
				}
			}
		})
	}
}

func readTree(t *testing.T, outs string) tree.ID {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(outs, "tree"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := tree.ParseID(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func stagingDirs(t *testing.T, dir string) []string {
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".mlstate-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func itoa(n int) string { return strconv.Itoa(n) }
