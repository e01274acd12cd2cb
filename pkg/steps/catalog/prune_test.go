package catalog_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/testsupport"
	"github.com/mlstate/mlstate/pkg/tree"
)

func TestPruneRetention(t *testing.T) {
	b := fileBackend(t)
	dir := filepath.Join(t.TempDir(), "ckpt")
	var recs []string
	for i := range 4 {
		testsupport.WriteFiles(t, dir, map[string]string{"epoch.bin": random(3000, byte(10+i))})
		recs = append(recs, take(t, b.st, "train", dir).ID)
	}
	otherDir := filepath.Join(t.TempDir(), "other")
	testsupport.WriteFiles(t, otherDir, map[string]string{"only-here.bin": random(4000, 99)})
	other := take(t, b.st, "other", otherDir)
	args := []string{"prune", "--store", b.url, "--pipeline", "train", "--outputs-dir", t.TempDir()}

	refusals := []struct {
		name string
		args []string
		msg  string
	}{
		{"no retention", nil, "no --keep-last or --keep-within given"},
		{"retention removes all", []string{"--keep-within", "1ms"}, "would remove all 4 restore points"},
		{"pipeline and all pipelines", []string{"--all-pipelines", "--keep-last", "1"}, "exactly one"},
		{"negative", []string{"--keep-last", "-1"}, "must not be negative"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r := runCatalog(t, append(slices.Clone(args), tc.args...)...)
			if r.code != exitcode.Usage || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, exitcode.Usage, tc.msg)
			}
			if got := ids(t, b.st, "train"); len(got) != 4 {
				t.Fatalf("a refused prune removed restore points: %v", got)
			}
		})
	}

	t.Run("dry run", func(t *testing.T) {
		r := runCatalog(t, append(slices.Clone(args), "--keep-last", "2", "--dry-run", "--grace", "0")...)
		if r.code != 0 || strings.Count(r.stdout, "would remove train/") != 2 || !strings.Contains(r.stdout, "2 kept, 2 would remove") {
			t.Fatalf("exit %d:\n%s", r.code, r.stdout)
		}
		if got := ids(t, b.st, "train"); len(got) != 4 {
			t.Fatalf("a dry run removed restore points: %v", got)
		}
	})

	t.Run("keep last 2", func(t *testing.T) {
		before := countKeys(t, b.st, "chunks/") + countKeys(t, b.st, "packs/")
		r := runCatalog(t, append(slices.Clone(args), "--keep-last", "2", "--grace", "0")...)
		if r.code != 0 || !strings.Contains(r.stdout, "removed train/"+recs[0]) || !strings.Contains(r.stdout, "removed train/"+recs[1]) {
			t.Fatalf("exit %d:\n%s", r.code, r.stdout)
		}
		if got := ids(t, b.st, "train"); !slices.Equal(got, recs[2:]) {
			t.Fatalf("left %v, want %v", got, recs[2:])
		}
		if after := countKeys(t, b.st, "chunks/") + countKeys(t, b.st, "packs/"); after >= before {
			t.Fatalf("the sweep deleted no chunk or pack (%d before, %d after)", before, after)
		}
		// What is left, in this pipeline and the other, is intact: the
		// sweep counted every pipeline's trees as live.
		for _, p := range []string{"train", "other"} {
			if r := runCatalog(t, "verify", "--store", b.url, "--pipeline", p, "--all", "--outputs-dir", t.TempDir()); r.code != 0 {
				t.Fatalf("verify %s after prune: exit %d\n%s", p, r.code, r.stdout)
			}
		}
		if got := ids(t, b.st, "other"); !slices.Equal(got, []string{other.ID}) {
			t.Fatalf("prune of train touched pipeline other: %v", got)
		}
	})

	t.Run("all pipelines, forced", func(t *testing.T) {
		r := runCatalog(t, "prune", "--store", b.url, "--all-pipelines", "--keep-within", "1ms", "--force", "--grace", "0", "--outputs-dir", t.TempDir(), "-o", "json")
		if r.code != 0 || len(ids(t, b.st, "train"))+len(ids(t, b.st, "other")) != 0 {
			t.Fatalf("exit %d, left %v %v", r.code, ids(t, b.st, "train"), ids(t, b.st, "other"))
		}
	})
}

func countKeys(t *testing.T, st store.Store, prefix string) int {
	t.Helper()
	n := 0
	if err := st.List(context.Background(), prefix, func(store.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// holdAt blocks a push at its second chunk: the first (shared with an old
// restore point) has been found in the store and not uploaded; the push
// now relies on it.
type holdAt struct {
	mu      sync.Mutex
	calls   int
	held    chan struct{}
	release chan struct{}
}

func (h *holdAt) SetTotal(int64) {}
func (h *holdAt) Add(int64) {
	h.mu.Lock()
	h.calls++
	n := h.calls
	h.mu.Unlock()
	if n == 2 {
		close(h.held)
		<-h.release
	}
}

// TestPruneDuringPush runs prune (and its sweep) while a push is in
// progress that relies on a chunk only a pruned restore point refers to.
// On the file store, the old chunks are aged so the sweep really deletes
// that chunk; the push must notice (ErrConcurrentSweep) rather than record
// a tree with a hole, and its retry must store a whole tree.
func TestPruneDuringPush(t *testing.T) {
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := newBackend(t)
			shared := random(3<<20, 7) // a single object, found in the store by one lookup
			dir := filepath.Join(t.TempDir(), "ckpt")
			testsupport.WriteFiles(t, dir, map[string]string{"a-shared.bin": shared, "old.bin": random(9000, 8)})
			old := take(t, b.st, "train", dir)
			testsupport.WriteFiles(t, dir, map[string]string{"new.bin": random(9000, 9)})
			take(t, b.st, "train", dir)
			if b.dir != "" {
				age(t, b.dir, 48*time.Hour)
			}

			src := filepath.Join(t.TempDir(), "dataset")
			testsupport.WriteFiles(t, src, map[string]string{"a-shared.bin": shared, "b-fresh.bin": random(15000, 10)})
			h := &holdAt{held: make(chan struct{}), release: make(chan struct{})}
			type pushed struct {
				res tree.PushResult
				err error
			}
			done := make(chan pushed, 1)
			go func() {
				res, err := tree.Push(ctx, b.st, src, tree.PushOptions{Name: "dataset", Concurrency: 1, Progress: h})
				done <- pushed{res, err}
			}()
			select {
			case <-h.held:
			case p := <-done:
				t.Fatalf("push ended before it was held: %v", p.err)
			}
			r := runCatalog(t, "prune", "--store", b.url, "--pipeline", "train", "--keep-last", "1", "--grace", "0", "--outputs-dir", t.TempDir())
			close(h.release)
			p := <-done
			if r.code != 0 || !strings.Contains(r.stdout, "removed train/"+old.ID) || !strings.Contains(r.stdout, "1 pushes in progress") {
				t.Fatalf("prune: exit %d\n%s", r.code, r.stdout)
			}
			if b.dir != "" {
				if _, err := b.st.Stat(ctx, "trees/"+old.Trees[0].Tree); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("the sweep kept the pruned tree (so this test proves nothing): %v", err)
				}
			}
			if errors.Is(p.err, tree.ErrConcurrentSweep) {
				t.Logf("push reported the concurrent sweep, as it must; retrying: %v", p.err)
				// A retry after the sweep finished must succeed at once.
				p.res, p.err = tree.Push(ctx, b.st, src, tree.PushOptions{Name: "dataset"})
			}
			if p.err != nil {
				t.Fatal(p.err)
			}
			rep, err := tree.Verify(ctx, b.st, p.res.ID)
			if err != nil || !rep.OK() {
				t.Fatalf("the pushed tree lost chunks: %+v %v", rep, err)
			}
			dst := filepath.Join(t.TempDir(), "pulled")
			if _, err := tree.Pull(ctx, b.st, p.res.ID, dst, tree.PullOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"a-shared.bin", "b-fresh.bin"} {
				want, _ := os.ReadFile(filepath.Join(src, f))
				got, err := os.ReadFile(filepath.Join(dst, f))
				if err != nil || string(got) != string(want) {
					t.Fatalf("%s pulled wrong (%d bytes, %v)", f, len(got), err)
				}
			}
			// The tree stays live through later prunes as the latest push
			// under its name.
			r = runCatalog(t, "prune", "--store", b.url, "--pipeline", "train", "--keep-last", "1", "--grace", "0", "--outputs-dir", t.TempDir())
			if rep, err := tree.Verify(ctx, b.st, p.res.ID); r.code != 0 || err != nil || !rep.OK() {
				t.Fatalf("a later prune broke the named tree: exit %d, %+v %v", r.code, rep, err)
			}
		})
	}
}

// age backdates every chunk, pack, index and tree in a file store.
func age(t *testing.T, root string, d time.Duration) {
	t.Helper()
	when := time.Now().Add(-d)
	for _, sub := range []string{"chunks", "packs", "index", "trees"} {
		err := filepath.WalkDir(filepath.Join(root, sub), func(p string, e fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == filepath.Join(root, sub) {
				return nil // nothing of this kind stored
			}
			if err != nil || e.IsDir() {
				return err
			}
			return os.Chtimes(p, when, when)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
