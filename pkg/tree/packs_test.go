package tree

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree/pack"
)

// manyFiles writes n small files whose content depends on gen for the
// files from keep on.
func manyFiles(t *testing.T, dir string, n, keep, gen int) {
	for i := range n {
		content := fmt.Sprint("file ", i)
		if i >= keep {
			content = fmt.Sprint("file ", i, " of generation ", gen, strings.Repeat(".", 2000))
		}
		writeFile(t, dir, fmt.Sprintf("f%03d", i), []byte(content), 0o644, epoch.Add(time.Duration(gen)*time.Minute))
	}
}

// A tree's small files are packed, and a pull reads them with few ranged
// requests.
func TestSmallFilesArePacked(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		src := t.TempDir()
		manyFiles(t, src, 200, 0, 1)
		res := push(t, st, src, PushOptions{})
		packs := 0
		if err := st.List(ctx, "packs/", func(store.Info) error { packs++; return nil }); err != nil {
			t.Fatal(err)
		}
		chunks := 0
		if err := st.List(ctx, "chunks/", func(store.Info) error { chunks++; return nil }); err != nil {
			t.Fatal(err)
		}
		if packs != 1 || chunks != 0 {
			t.Errorf("200 small files stored as %d packs and %d single chunks, want 1 pack", packs, chunks)
		}
		h := newHookStore(st)
		dst := t.TempDir() + "/out"
		if _, err := Pull(ctx, h, res.ID, dst, PullOptions{}); err != nil {
			t.Fatal(err)
		}
		assertSameDir(t, snapshotDir(t, src), snapshotDir(t, dst))
		reads := 0
		for _, c := range h.calls {
			if strings.HasPrefix(c, "get packs/") {
				reads++
			}
		}
		if reads != 1 {
			t.Errorf("the pull read the pack %d times, want once", reads)
		}
	})
}

// A sweep repacks a pack that is mostly dead: the live tree's chunks move
// to a new pack, its index follows, and the old pack goes.
func TestSweepRepacks(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		src := t.TempDir()
		manyFiles(t, src, 100, 10, 1)
		push(t, st, src, PushOptions{Name: "ds"})
		manyFiles(t, src, 100, 10, 2) // 90 of 100 files change
		second := push(t, st, src, PushOptions{Name: "ds"})
		before, _, err := loadIndex(ctx, st, second.ID)
		if err != nil {
			t.Fatal(err)
		}
		old := map[pack.ID]bool{}
		for _, l := range before.All() {
			old[l.Pack] = true
		}
		if len(old) != 2 {
			t.Fatalf("the second tree uses %d packs, want 2 (the first's for 10 files, its own)", len(old))
		}
		later := func() time.Time { return time.Now().Add(time.Hour) }
		dry, err := Sweep(ctx, st, []ID{second.ID}, SweepOptions{DryRun: true, Now: later})
		if err != nil || dry.PacksRepacked != 1 || dry.TreesDeleted != 1 {
			t.Fatalf("dry run: %+v, %v", dry, err)
		}
		res, err := Sweep(ctx, st, []ID{second.ID}, SweepOptions{Now: later})
		if err != nil || res.PacksRepacked != 1 {
			t.Fatalf("sweep: %+v, %v", res, err)
		}
		after, _, err := loadIndex(ctx, st, second.ID)
		if err != nil {
			t.Fatal(err)
		}
		for d, l := range after.All() {
			if b, _ := before.Lookup(d); l.Pack != b.Pack && !old[b.Pack] {
				t.Errorf("chunk %x moved from a pack that was not repacked", d[:4])
			}
		}
		var left []string
		_ = st.List(ctx, "packs/", func(i store.Info) error { left = append(left, i.Key); return nil })
		if len(left) != 2 {
			t.Errorf("packs after the repack: %v, want the second tree's and the new one", left)
		}
		if rep, err := Verify(ctx, st, second.ID); err != nil || !rep.OK() {
			t.Fatalf("the live tree is broken after the repack: %+v %v", rep, err)
		}
		dst := t.TempDir() + "/out"
		if _, err := Pull(ctx, st, second.ID, dst, PullOptions{}); err != nil {
			t.Fatal(err)
		}
		assertSameDir(t, snapshotDir(t, src), snapshotDir(t, dst))
	})
}

// A Verifier given many trees that share packs reads each pack once.
func TestVerifierReadsEachPackOnce(t *testing.T) {
	st, _ := newFileStore(t)
	ctx := context.Background()
	src := t.TempDir()
	var ids []ID
	for gen := range 4 {
		manyFiles(t, src, 50, 40, gen) // each tree shares 40 files with the others
		ids = append(ids, push(t, st, src, PushOptions{Name: "ds"}).ID)
	}
	h := newHookStore(st)
	v := NewVerifier(h)
	for _, id := range ids {
		if err := v.Add(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Run(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if rep, err := v.Report(ctx, id); err != nil || !rep.OK() || rep.Chunks != 50 {
			t.Errorf("tree %s: %+v", id.Short(), rep)
		}
	}
	gets := map[string]int{}
	for _, c := range h.calls {
		if strings.HasPrefix(c, "get packs/") {
			gets[c]++
		}
	}
	if len(gets) != 4 {
		t.Errorf("read %d packs, want the 4 the trees use", len(gets))
	}
	for k, n := range gets {
		if n != 1 {
			t.Errorf("%s: %d times, want once", k, n)
		}
	}
}

// sweepOnFirstPack runs a sweep just before the first pack is read: the
// pull has read the tree's index, and the sweep then repacks.
type sweepOnFirstPack struct {
	store.Store
	once  sync.Once
	sweep func()
}

func (s *sweepOnFirstPack) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.HasPrefix(key, "packs/") {
		s.once.Do(s.sweep)
	}
	return s.Store.Get(ctx, key)
}

// A pull that read a tree's index before a sweep repacked its chunks
// finds them where the index says now.
func TestPullFollowsRepack(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		src := t.TempDir()
		manyFiles(t, src, 100, 10, 1)
		push(t, st, src, PushOptions{Name: "ds"})
		manyFiles(t, src, 100, 10, 2)
		second := push(t, st, src, PushOptions{Name: "ds"})
		var swept SweepResult
		var sweepErr error
		h := &sweepOnFirstPack{Store: st, sweep: func() {
			swept, sweepErr = Sweep(ctx, st, []ID{second.ID}, SweepOptions{Now: func() time.Time { return time.Now().Add(time.Hour) }})
		}}
		dst := t.TempDir() + "/out"
		if _, err := Pull(ctx, h, second.ID, dst, PullOptions{}); err != nil {
			t.Fatalf("pull across a repack: %v", err)
		}
		if sweepErr != nil || swept.PacksRepacked != 1 {
			t.Fatalf("the sweep did not repack (so this test proves nothing): %+v %v", swept, sweepErr)
		}
		assertSameDir(t, snapshotDir(t, src), snapshotDir(t, dst))
	})
}
