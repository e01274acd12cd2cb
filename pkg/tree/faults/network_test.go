package faults

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/testsupport"
	"github.com/mlstate/mlstate/pkg/tree"
)

// onceEach injects f into the first request of method for each chunk or
// pack key, and passes everything else.
func onceEach(method string, f func(n int) testsupport.Fault) func(*http.Request) testsupport.Fault {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(r *http.Request) testsupport.Fault {
		if r.Method != method || !data(r) {
			return testsupport.Pass
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[r.URL.Path] {
			return testsupport.Pass
		}
		seen[r.URL.Path] = true
		return f(len(seen))
	}
}

// data reports whether r is for file content: a chunk or a pack.
func data(r *http.Request) bool {
	return strings.Contains(r.URL.Path, "/chunks/") || strings.Contains(r.URL.Path, "/packs/")
}

// TestNetworkFaults pushes through a proxy that corrupts the first upload
// of every chunk, then pulls through one that cuts or stalls the first
// download of every chunk: both succeed, verified. With every download
// cut, the pull fails as transient and the target is untouched.
func TestNetworkFaults(t *testing.T) {
	c := newTally(t)
	s := testsupport.MinIO(t)
	p := testsupport.NewFaultProxy(t, s.URL)
	bucket := s.Bucket(t)
	st := s3(t, p.Endpoint, s, bucket)
	direct := s3(t, s.Endpoint, s, bucket)
	ctx := context.Background()

	src := t.TempDir()
	writeTree(t, src, sampleFiles(1, 12<<20))
	want := testsupport.Fingerprint(t, src)

	p.SetFaults(onceEach(http.MethodPut, func(int) testsupport.Fault { return testsupport.CorruptRequest }))
	res, err := tree.Push(ctx, st, src, tree.PushOptions{Name: "net"})
	if err != nil {
		t.Fatalf("push with every chunk corrupted once in transit: %v", err)
	}
	verified(t, direct, res.ID, want)

	// Every upload's first attempt stalls: each is given up and sent again.
	writeTree(t, src, map[string][]byte{"data/stalled": []byte("new after the first push")})
	want = testsupport.Fingerprint(t, src)
	p.SetFaults(onceEach(http.MethodPut, func(int) testsupport.Fault { return testsupport.StallResponse }))
	res, err = tree.Push(ctx, st, src, tree.PushOptions{Name: "net", Rehash: true, StallTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("push with every new chunk's first upload stalled: %v", err)
	}
	verified(t, direct, res.ID, want)

	p.SetFaults(onceEach(http.MethodGet, func(n int) testsupport.Fault {
		if n%2 == 0 {
			return testsupport.StallResponse
		}
		return testsupport.CutResponse
	}))
	dst := filepath.Join(t.TempDir(), "pulled")
	if _, err := tree.Pull(ctx, st, res.ID, dst, tree.PullOptions{StallTimeout: 500 * time.Millisecond}); err != nil {
		t.Fatalf("pull with every chunk cut or stalled once: %v", err)
	}
	testsupport.SameFingerprint(t, want, testsupport.Fingerprint(t, dst))

	// Every download cut: transient, nothing changed.
	p.SetFaults(func(r *http.Request) testsupport.Fault {
		if r.Method == http.MethodGet && data(r) {
			return testsupport.CutResponse
		}
		return testsupport.Pass
	})
	old := filepath.Join(t.TempDir(), "old")
	writeTree(t, old, map[string][]byte{"keep": []byte("the old tree")})
	before := testsupport.Fingerprint(t, old)
	_, err = tree.Pull(ctx, st, res.ID, old, tree.PullOptions{})
	if !errors.Is(err, store.ErrTransient) || errors.Is(err, tree.ErrDigestMismatch) {
		t.Fatalf("pull with every download cut = %v, want transient and not integrity", err)
	}
	testsupport.SameFingerprint(t, before, testsupport.Fingerprint(t, old))
	p.SetFaults(nil)
	if _, err := tree.Pull(ctx, st, res.ID, old, tree.PullOptions{Delete: true}); err != nil {
		t.Fatalf("next pull: %v", err)
	}
	testsupport.SameFingerprint(t, want, testsupport.Fingerprint(t, old))
	c.add(int(p.Injected.Load()))
}

// TestMinIOKilled kills the MinIO server (SIGKILL) in the middle of a push
// and of a pull, and restarts it.
func TestMinIOKilled(t *testing.T) {
	c := newTally(t)
	m := testsupport.StartPrivateMinIO(t)
	bucket := m.Bucket(t)
	st := s3(t, m.Endpoint, m.MinIOServer, bucket)
	ctx := context.Background()
	src := t.TempDir()
	writeTree(t, src, sampleFiles(2, 16<<20))
	want := testsupport.Fingerprint(t, src)

	// One transfer at a time, killed after the first: the rest cannot have
	// been sent before the kill.
	kill := &killAfter{n: 0, kill: m.Kill}
	if _, err := tree.Push(ctx, st, src, tree.PushOptions{Name: "k", Progress: kill, Concurrency: 1}); err == nil {
		t.Fatal("push succeeded with its server killed half way")
	} else if !errors.Is(err, store.ErrTransient) {
		t.Errorf("push with the server killed = %v, want transient (exit 20)", err)
	}
	c.add(1)
	restart(t, m, st)
	res, err := tree.Push(ctx, st, src, tree.PushOptions{Name: "k"})
	if err != nil {
		t.Fatalf("push after the restart: %v", err)
	}
	verified(t, st, res.ID, want)

	dir := filepath.Join(t.TempDir(), "target")
	writeTree(t, dir, map[string][]byte{"keep": []byte("old")})
	before := testsupport.Fingerprint(t, dir)
	kill = &killAfter{n: 0, kill: m.Kill}
	if _, err := tree.Pull(ctx, st, res.ID, dir, tree.PullOptions{Progress: kill, Concurrency: 1}); err == nil {
		t.Fatal("pull succeeded with its server killed half way")
	}
	c.add(1)
	testsupport.SameFingerprint(t, before, testsupport.Fingerprint(t, dir))
	restart(t, m, st)
	if _, err := tree.Pull(ctx, st, res.ID, dir, tree.PullOptions{Delete: true}); err != nil {
		t.Fatalf("pull after the restart: %v", err)
	}
	testsupport.SameFingerprint(t, want, testsupport.Fingerprint(t, dir))
}

// restart starts the killed server again and waits until it takes writes
// (MinIO reports ready a moment before it accepts them).
func restart(t *testing.T, m *testsupport.PrivateMinIO, st store.Store) {
	t.Helper()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, time.Minute, "the restarted MinIO takes writes", func(ctx context.Context) (bool, string) {
		err := st.Put(ctx, "probe", strings.NewReader("x"), 1)
		if err != nil {
			return false, err.Error()
		}
		return st.Delete(ctx, "probe") == nil, ""
	})
}
