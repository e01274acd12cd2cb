package tree

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree/pack"
)

// Packs meet per-directory documents: these tests cover where the two
// depend on each other.

// packedDirs writes dirs directories of n small files each, whose content
// depends on gen.
func packedDirs(t *testing.T, root string, dirs, n, gen int) {
	for d := range dirs {
		for i := range n {
			content := fmt.Sprint("dir ", d, " file ", i, " generation ", gen, strings.Repeat(".", 1500))
			writeFile(t, root, fmt.Sprintf("d%02d/f%03d", d, i), []byte(content), 0o644, epoch.Add(time.Duration(gen)*time.Minute))
		}
	}
}

// A pull of a tree of several directories of packed files reads its pack
// by a few ranged GETs (one per directory at most), not one per file.
func TestPullPackedDirectories(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		src := t.TempDir()
		packedDirs(t, src, 4, 60, 1)
		res := push(t, st, src, PushOptions{})
		h := newHookStore(st)
		dst := t.TempDir() + "/out"
		if _, err := Pull(ctx, h, res.ID, dst, PullOptions{}); err != nil {
			t.Fatal(err)
		}
		assertSameDir(t, snapshotDir(t, src), snapshotDir(t, dst))
		reads, singles := 0, 0
		for _, c := range h.calls {
			switch {
			case strings.HasPrefix(c, "get packs/"):
				reads++
			case strings.HasPrefix(c, "get chunks/"):
				singles++
			}
		}
		if reads == 0 || reads > 4 || singles != 0 {
			t.Errorf("240 packed files in 4 directories pulled with %d pack reads and %d single-chunk reads; want 1 to 4 and none", reads, singles)
		}
	})
}

// A no-op push reuses every directory and never reads an index; a push
// that changes one directory writes an index that still places the chunks
// of the directories it reused without reading them.
func TestIndexFollowsReusedDirectories(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		src := t.TempDir()
		packedDirs(t, src, 3, 20, 1)
		first := push(t, st, src, PushOptions{Name: "ds"})
		h := newHookStore(st)
		again := push(t, h, src, PushOptions{Name: "ds"})
		if again.ID != first.ID || again.DirsUploaded != 0 {
			t.Fatalf("no-op push: %+v, want tree %s and no directory stored", again, first.ID.Short())
		}
		for _, c := range h.calls {
			if strings.HasPrefix(c, "get index/") || strings.HasPrefix(c, "put index/") {
				t.Errorf("a no-op push touched an index: %s", c)
			}
		}
		for i := range 20 {
			writeFile(t, src, fmt.Sprintf("d01/f%03d", i), []byte(fmt.Sprint("changed ", i)), 0o644, epoch.Add(time.Hour))
		}
		second := push(t, st, src, PushOptions{Name: "ds"})
		if second.DirsUploaded != 1 {
			t.Errorf("a push that changed one directory stored %d directory documents, want 1", second.DirsUploaded)
		}
		ix, found, err := loadIndex(ctx, st, second.ID)
		if err != nil || !found {
			t.Fatalf("index of the second tree: found %v, %v", found, err)
		}
		m, err := Load(ctx, st, second.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range m.Entries {
			for _, c := range e.Chunks {
				if l, ok := ix.Lookup(c.Digest); !ok || l.Len != c.Size {
					t.Errorf("%s: chunk %s is not in the new tree's index", e.Path, c.Digest.Short())
				}
			}
		}
		dst := t.TempDir() + "/out"
		if _, err := Pull(ctx, st, second.ID, dst, PullOptions{}); err != nil {
			t.Fatal(err)
		}
		assertSameDir(t, snapshotDir(t, src), snapshotDir(t, dst))
	})
}

// An index inherits entries for chunks its tree no longer holds; they
// never keep a pack alive, and the sweep that deletes their pack drops
// them, so no stored index names a deleted pack.
func TestSweepIgnoresInheritedEntries(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		src := t.TempDir()
		packedDirs(t, src, 1, 50, 1)
		first := push(t, st, src, PushOptions{Name: "ds"})
		firstIx, _, err := loadIndex(ctx, st, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		packedDirs(t, src, 1, 50, 2) // every file changes
		second := push(t, st, src, PushOptions{Name: "ds"})
		inherited, _, err := loadIndex(ctx, st, second.ID)
		if err != nil {
			t.Fatal(err)
		}
		stale := 0
		for d := range firstIx.All() {
			if _, ok := inherited.Lookup(d); ok {
				stale++
			}
		}
		if stale != firstIx.Len() {
			t.Fatalf("the second index carries %d of the first tree's %d entries; this test needs them all", stale, firstIx.Len())
		}
		later := func() time.Time { return time.Now().Add(time.Hour) }
		res, err := Sweep(ctx, st, []ID{second.ID}, SweepOptions{Now: later})
		if err != nil || res.PacksDeleted != 1 || res.PacksRepacked != 0 {
			t.Fatalf("sweep: %+v, %v; want the first tree's pack deleted, not repacked", res, err)
		}
		after, _, err := loadIndex(ctx, st, second.ID)
		if err != nil {
			t.Fatal(err)
		}
		sizes := map[string]int64{}
		_ = st.List(ctx, pack.Prefix, func(i store.Info) error { sizes[i.Key] = i.Size; return nil })
		for d, l := range after.All() {
			if size, ok := sizes[pack.Key(l.Pack)]; !ok || size < l.Off+l.Len {
				t.Errorf("after the sweep the index places chunk %x in pack %x, which is gone", d[:4], l.Pack[:4])
			}
			if _, old := firstIx.Lookup(d); old {
				t.Errorf("after the sweep the index still names chunk %x of the first tree", d[:4])
			}
		}
		if rep, err := Verify(ctx, st, second.ID); err != nil || !rep.OK() {
			t.Fatalf("the live tree is broken after the sweep: %+v %v", rep, err)
		}
	})
}
