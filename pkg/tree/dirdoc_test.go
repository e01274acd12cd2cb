package tree

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
)

func TestDirDocValidate(t *testing.T) {
	id := Sum([]byte("x"))
	file := func(name string) Entry { return Entry{Path: name, Type: TypeFile, Mode: 0o644} }
	dir := func(name string) Entry { return Entry{Path: name, Type: TypeDir, Mode: 0o755, Tree: &id, Stat: &id} }
	for _, c := range []struct {
		name    string
		entries []Entry
		ok      bool
	}{
		{"empty", nil, true},
		{"files and dirs", []Entry{file("a"), dir("b"), file("c")}, true},
		{"a path, not a name", []Entry{file("a/b")}, false},
		{"dot-dot", []Entry{file("..")}, false},
		{"unsorted", []Entry{file("b"), file("a")}, false},
		{"duplicate", []Entry{file("a"), dir("a")}, false},
		{"directory without its document", []Entry{{Path: "d", Type: TypeDir, Mode: 0o755}}, false},
		{"directory without its stat", []Entry{{Path: "d", Type: TypeDir, Mode: 0o755, Tree: &id}}, false},
		{"file naming a document", []Entry{{Path: "f", Type: TypeFile, Tree: &id, Stat: &id}}, false},
		{"bad file", []Entry{{Path: "f", Type: TypeFile, Size: 3}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, err := encodeDir(c.entries)
			if (err == nil) != c.ok {
				t.Fatalf("encodeDir = %v, want ok=%v", err, c.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidManifest) {
					t.Errorf("error %v is not ErrInvalidManifest", err)
				}
				return
			}
			d, err := decodeDir(data)
			if err != nil || len(d.Entries) != len(c.entries) {
				t.Errorf("decodeDir(%s) = %+v, %v", data, d, err)
			}
		})
	}
	// A format 1 manifest names no directory documents.
	m := &Manifest{Version: ManifestVersion, Entries: []Entry{dir("d")}}
	if _, err := m.Encode(); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("format 1 manifest with a directory document: %v, want ErrInvalidManifest", err)
	}
}

// deepTree writes n directories of files, three levels down.
func deepTree(t *testing.T, root string, n int) {
	t.Helper()
	for i := range n {
		for j := range 3 {
			writeFile(t, root, fmt.Sprintf("data/part-%d/sub/rec-%d", i, j), randBytes(int64(100*i+j), 100+j), 0o644, epoch)
		}
	}
	writeFile(t, root, "top", []byte("top"), 0o644, epoch)
}

// dirKeys lists the directory documents in st.
func dirKeys(t *testing.T, st store.Store) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := st.List(context.Background(), "dirs/", func(i store.Info) error { out[i.Key] = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// An unchanged directory costs a push a stat of its entries: its document
// is neither read nor stored again. A change deep down stores the
// documents of the changed directory and of the directories above it.
func TestUnchangedDirectoriesReused(t *testing.T) {
	eachStore(t, func(t *testing.T, base store.Store) {
		src := t.TempDir()
		deepTree(t, src, 5)
		first := push(t, base, src, PushOptions{Name: "ds"})
		// data, 5×part-i, 5×part-i/sub
		if first.DirsUploaded != 11 || len(dirKeys(t, base)) != 11 {
			t.Fatalf("first push stored %d directory documents (%d in the store), want 11", first.DirsUploaded, len(dirKeys(t, base)))
		}
		h := newHookStore(base)
		again := push(t, h, src, PushOptions{Name: "ds"})
		if again.ID != first.ID || again.DirsUploaded != 0 || again.BytesRead != 0 || again.FilesReused != first.Files || again.Files != first.Files {
			t.Errorf("no-op push: %+v, want the same tree with nothing read or stored", again)
		}
		for _, c := range h.calls {
			if strings.HasPrefix(c, "put ") && !strings.HasPrefix(c, "put trees/") && !strings.HasPrefix(c, "put pushes/") && !strings.HasPrefix(c, "put names/") {
				t.Errorf("no-op push stored %s; want nothing but the root, its name and the lease", c)
			}
			if strings.HasPrefix(c, "get dirs/") && strings.Contains(c, "/sub/") {
				t.Errorf("no-op push read %s", c)
			}
		}
		reads := 0
		for _, c := range h.calls {
			if strings.HasPrefix(c, "get dirs/") {
				reads++
			}
		}
		// Only directories holding directories are read: data and the 5 part-i.
		if reads != 6 {
			t.Errorf("no-op push read %d directory documents, want 6 (the leaves are recognised by their stat)", reads)
		}

		writeFile(t, src, "data/part-3/sub/rec-1", []byte("changed"), 0o644, epoch.Add(time.Minute))
		third := push(t, base, src, PushOptions{Name: "ds"})
		if third.DirsUploaded != 3 || third.BytesRead != int64(len("changed")) || third.FilesReused != first.Files-1 {
			t.Errorf("one file changed: %+v, want 3 documents stored (sub, part-3, data) and one file read", third)
		}
		m1, _ := Load(context.Background(), base, first.ID)
		m3, err := Load(context.Background(), base, third.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := Diff(m1, m3); len(d) != 1 || d[0].Path != "data/part-3/sub/rec-1" {
			t.Errorf("Diff = %v", d)
		}
		dst := filepath.Join(t.TempDir(), "out")
		if _, err := Pull(context.Background(), base, third.ID, dst, PullOptions{}); err != nil {
			t.Fatal(err)
		}
		assertSameDir(t, snapshotDir(t, src), snapshotDir(t, dst))
	})
}

// Trees stored whole, as one format 1 manifest, keep reading, and serve as
// a push's parent.
func TestFormat1TreesRead(t *testing.T) {
	ctx := context.Background()
	st, _ := newFileStore(t)
	src := sampleTree(t)
	res := push(t, st, src, PushOptions{})
	m, err := Load(ctx, st, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	old := Sum(data)
	if err := st.Put(ctx, treeKey(old), strings.NewReader(string(data)), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	// The push packed the small files: the flat tree's index places them
	// as the pushed tree's does (a flat tree from before packs has none,
	// its chunks are all single objects).
	ix, _, err := loadIndex(ctx, st, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := storeIndex(ctx, st, old, ix); err != nil {
		t.Fatal(err)
	}
	back, err := Load(ctx, st, old)
	if err != nil || len(Diff(m, back)) != 0 || len(back.Entries) != len(m.Entries) {
		t.Fatalf("Load(format 1) = %d entries, %v; want the %d of the tree", len(back.Entries), err, len(m.Entries))
	}
	if rep, err := Verify(ctx, st, old); err != nil || !rep.OK() || rep.Files != res.Files {
		t.Errorf("Verify(format 1) = %+v, %v", rep, err)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if _, err := Pull(ctx, st, old, dst, PullOptions{KeepSetID: true}); err != nil {
		t.Fatal(err)
	}
	assertSameDir(t, snapshotDir(t, src), snapshotDir(t, dst))
	again := push(t, st, src, PushOptions{Parent: old})
	if again.ID != res.ID || again.BytesRead != 0 || again.FilesReused != res.Files {
		t.Errorf("push with a format 1 parent: %+v, want %s with every file reused", again, res.ID.Short())
	}
}

// A directory document that is missing or does not match its digest fails
// a pull and a verify as an integrity error, and leaves the target alone.
func TestDamagedDirDoc(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		harm func(st store.Store, key string) error
		want error
	}{
		{"missing", func(st store.Store, key string) error { return st.Delete(ctx, key) }, ErrChunkMissing},
		{"rewritten", func(st store.Store, key string) error {
			return st.Put(ctx, key, strings.NewReader(`{"version":2,"entries":[]}`), 26)
		}, ErrDigestMismatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, _ := newFileStore(t)
			src := t.TempDir()
			deepTree(t, src, 1)
			res := push(t, st, src, PushOptions{})
			for key := range dirKeys(t, st) {
				if err := c.harm(st, key); err != nil {
					t.Fatal(err)
				}
			}
			dst := filepath.Join(t.TempDir(), "out")
			if _, err := Pull(ctx, st, res.ID, dst, PullOptions{}); !errors.Is(err, c.want) {
				t.Errorf("Pull = %v, want %v", err, c.want)
			}
			if len(leftovers(t, dst)) != 0 {
				t.Errorf("pull left %v", leftovers(t, dst))
			}
			if _, err := Verify(ctx, st, res.ID); !errors.Is(err, c.want) {
				t.Errorf("Verify = %v, want %v", err, c.want)
			}
			// The next push reads every file again rather than fail.
			again := push(t, st, src, PushOptions{Parent: res.ID})
			if again.ID != res.ID || again.BytesRead == 0 {
				t.Errorf("push over a damaged parent: %+v", again)
			}
		})
	}
}

// A sweep keeps the directory documents of live trees, shared ones too,
// and deletes those only dead trees named.
func TestSweepDirDocs(t *testing.T) {
	ctx := context.Background()
	st, _ := newFileStore(t)
	src := t.TempDir()
	deepTree(t, src, 3)
	first := push(t, st, src, PushOptions{})
	before := dirKeys(t, st)
	writeFile(t, src, "data/part-0/sub/rec-0", []byte("changed"), 0o644, epoch.Add(time.Minute))
	second := push(t, st, src, PushOptions{Parent: first.ID})
	later := func() time.Time { return time.Now().Add(time.Hour) }
	res, err := Sweep(ctx, st, []ID{second.ID}, SweepOptions{Now: later})
	if err != nil {
		t.Fatal(err)
	}
	if res.DirsDeleted != 3 {
		t.Errorf("sweep deleted %d directory documents, want the 3 only the first tree named", res.DirsDeleted)
	}
	after := dirKeys(t, st)
	kept := 0
	for k := range before {
		if after[k] {
			kept++
		}
	}
	if kept != len(before)-3 {
		t.Errorf("%d of the first tree's %d documents kept, want all but 3", kept, len(before))
	}
	if rep, err := Verify(ctx, st, second.ID); err != nil || !rep.OK() {
		t.Errorf("live tree after the sweep: %+v, %v", rep, err)
	}
	if _, err := Load(ctx, st, first.ID); !errors.Is(err, ErrTreeNotFound) {
		t.Errorf("dead tree after the sweep: %v", err)
	}
	// A live tree whose document is missing stops the sweep.
	for k := range after {
		_ = st.Delete(ctx, k)
		break
	}
	if _, err := Sweep(ctx, st, []ID{second.ID}, SweepOptions{Now: later}); !errors.Is(err, ErrChunkMissing) {
		t.Errorf("sweep with a live tree's document missing = %v, want ErrChunkMissing", err)
	}
}

// A directory's stat is stored in its parent's document and compared by
// every later push: its value must not change with how it is computed.
// The digest below was computed by the implementation that hashed each
// field with its own write.
func TestStatOfIsStable(t *testing.T) {
	entries := []Entry{
		{Path: "a", Type: TypeFile, Mode: 0o644, Size: 64, MTime: 1700000000123456789},
		{Path: "d", Type: TypeDir, Mode: 0o4755, MTime: -5, Tree: &ID{1, 2, 3}},
		{Path: "l", Type: TypeSymlink, Mode: 0o777, Target: "../x", MTime: 1},
	}
	const want = "5f4328b262702439dcadc1e8b60aa2e86fe899a895e8f8959fd4ed9e63b0bf70"
	var many []Entry
	for i := range 3000 { // past statBelow's buffer
		many = append(many, Entry{Path: fmt.Sprintf("f%05d", i), Type: TypeFile, Mode: 0o600, Size: int64(i), MTime: int64(i) << 20})
	}
	for _, tc := range []struct {
		name    string
		entries []Entry
		prefix  string
	}{
		{"names", entries, ""},
		{"below a directory", prefixed(entries, "sub/dir/"), "sub/dir/"},
		{"many, names", many, ""},
		{"many, below a directory", prefixed(many, "x/"), "x/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := statBelow(tc.entries, tc.prefix)
			if named := statOf(namedCopy(tc.entries, tc.prefix)); got != named {
				t.Errorf("statBelow = %s, statOf of the names = %s", got, named)
			}
			if len(tc.entries) == len(entries) && got.String() != want {
				t.Errorf("stat = %s, want %s", got, want)
			}
		})
	}
}

func prefixed(entries []Entry, prefix string) []Entry {
	out := make([]Entry, len(entries))
	for i, e := range entries {
		e.Path = prefix + e.Path
		out[i] = e
	}
	return out
}
