package tree

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mlstate/mlstate/pkg/store"
)

// existingTarget is a directory a pull must leave exactly as it was when it fails.
func existingTarget(t *testing.T) (string, map[string]snap) {
	dir := filepath.Join(t.TempDir(), "target")
	writeFile(t, dir, "keep/me", []byte("precious"), 0o644, epoch)
	writeFile(t, dir, "ckpt/model.bin", []byte("old model"), 0o644, epoch)
	return dir, snapshotDir(t, dir)
}

func assertUntouched(t *testing.T, dir string, before map[string]snap) {
	t.Helper()
	assertSameDir(t, before, snapshotDir(t, dir))
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("staging left behind: %v", l)
	}
}

func TestPullMerges(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		src := t.TempDir()
		writeFile(t, src, "ckpt/model.bin", []byte("new model"), 0o644, epoch)
		writeFile(t, src, "keep", []byte("file where the target has a dir"), 0o644, epoch)
		res := push(t, st, src, PushOptions{})

		dir, _ := existingTarget(t)
		if _, err := Pull(context.Background(), st, res.ID, dir, PullOptions{}); err != nil {
			t.Fatal(err)
		}
		got := snapshotDir(t, dir)
		if string(got["ckpt/model.bin"].data) != "new model" || string(got["keep"].data) == "" {
			t.Errorf("tree not restored: %v", got)
		}

		dir2, _ := existingTarget(t)
		writeFile(t, dir2, "extra/file", []byte("not in the tree"), 0o644, epoch)
		writeFile(t, dir2, "ckpt/extra", []byte("not in the tree"), 0o644, epoch)
		if _, err := Pull(context.Background(), st, res.ID, dir2, PullOptions{}); err != nil {
			t.Fatal(err)
		}
		got = snapshotDir(t, dir2)
		if string(got["extra/file"].data) != "not in the tree" || string(got["ckpt/extra"].data) != "not in the tree" {
			t.Errorf("pull without Delete dropped extra files: %v", got)
		}
		if _, err := Pull(context.Background(), st, res.ID, dir2, PullOptions{Delete: true}); err != nil {
			t.Fatal(err)
		}
		assertSameDir(t, snapshotDir(t, src), snapshotDir(t, dir2))
		if l := leftovers(t, dir2); len(l) > 0 {
			t.Errorf("staging left behind: %v", l)
		}
	})
}

func TestPullBadChunk(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		src := sampleTree(t)
		res := push(t, st, src, PushOptions{})
		m, _ := Load(ctx, st, res.ID)
		var victim Entry
		for _, e := range m.Entries {
			if e.Path == "ckpt/model.bin" {
				victim = e
			}
		}
		d := victim.Chunks[1]

		cases := []struct {
			name   string
			break_ func() error
			want   error
		}{
			{"corrupt", func() error {
				bad := bytes.Repeat([]byte{'x'}, int(d.Size))
				return st.Put(ctx, chunkKey(d.Digest), bytes.NewReader(bad), d.Size)
			}, ErrDigestMismatch},
			{"truncated", func() error { return st.Put(ctx, chunkKey(d.Digest), strings.NewReader("short"), 5) }, ErrDigestMismatch},
			{"missing", func() error { return st.Delete(ctx, chunkKey(d.Digest)) }, ErrChunkMissing},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if err := c.break_(); err != nil {
					t.Fatal(err)
				}
				dir, before := existingTarget(t)
				_, err := Pull(ctx, st, res.ID, dir, PullOptions{})
				if !errors.Is(err, c.want) || !strings.Contains(err.Error(), "ckpt/model.bin") || !strings.Contains(err.Error(), d.Digest.String()) {
					t.Errorf("Pull = %v; want %v naming the file and digest", err, c.want)
				}
				assertUntouched(t, dir, before)
				rep, err := Verify(ctx, st, res.ID)
				if err != nil || rep.OK() || rep.Broken[0].Path != "ckpt/model.bin" || rep.Broken[0].Digest != d.Digest || !errors.Is(rep.Err(), c.want) {
					t.Errorf("Verify = %+v, %v", rep, err)
				}
			})
		}
	})
}

// putRawTree stores manifest bytes as a tree without validating them, as a
// hostile or buggy writer could.
func putRawTree(t *testing.T, st store.Store, data string) ID {
	id := Sum([]byte(data))
	if err := st.Put(context.Background(), treeKey(id), strings.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPullRefusesBadManifests(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		cases := map[string]string{
			"absolute":        `{"version":1,"entries":[{"path":"/tmp/evil","type":"file","mode":420,"mtime":0}]}`,
			"dotdot":          `{"version":1,"entries":[{"path":"../evil","type":"file","mode":420,"mtime":0}]}`,
			"duplicate":       `{"version":1,"entries":[{"path":"a","type":"file","mode":420,"mtime":0},{"path":"a","type":"file","mode":420,"mtime":0}]}`,
			"through symlink": `{"version":1,"entries":[{"path":"l","type":"symlink","mode":511,"mtime":0,"target":"/tmp"},{"path":"l/evil","type":"file","mode":420,"mtime":0}]}`,
		}
		for name, data := range cases {
			t.Run(name, func(t *testing.T) {
				id := putRawTree(t, st, data)
				dir, before := existingTarget(t)
				_, err := Pull(ctx, st, id, dir, PullOptions{})
				if !errors.Is(err, ErrInvalidManifest) {
					t.Errorf("Pull = %v, want ErrInvalidManifest", err)
				}
				assertUntouched(t, dir, before)
			})
		}
		// A manifest whose bytes do not match its ID.
		id := putRawTree(t, st, `{"version":1,"entries":[]}`)
		if err := st.Put(ctx, treeKey(id), strings.NewReader(`{"version":1,"entries":[] }`), 27); err != nil {
			t.Fatal(err)
		}
		if _, err := Pull(ctx, st, id, t.TempDir(), PullOptions{}); !errors.Is(err, ErrDigestMismatch) {
			t.Errorf("tampered manifest: %v", err)
		}
		if _, err := Pull(ctx, st, Sum([]byte("none")), t.TempDir(), PullOptions{}); !errors.Is(err, ErrTreeNotFound) {
			t.Errorf("missing tree: %v", err)
		}
	})
}

// cancelAfter cancels a context once n bytes were reported.
type cancelAfter struct {
	n, done atomic.Int64
	cancel  context.CancelFunc
}

func (c *cancelAfter) SetTotal(int64) {}
func (c *cancelAfter) Add(n int64) {
	if c.done.Add(n) >= c.n.Load() {
		c.cancel()
	}
}

func TestPullInterrupted(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		src := sampleTree(t)
		res := push(t, st, src, PushOptions{})
		dir, before := existingTarget(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := &cancelAfter{cancel: cancel}
		c.n.Store(1 << 20)
		_, err := Pull(ctx, st, res.ID, dir, PullOptions{Progress: c, Concurrency: 2})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Pull = %v, want context.Canceled", err)
		}
		assertUntouched(t, dir, before)
	})
}

func TestPullTargetNotADir(t *testing.T) {
	st, _ := newFileStore(t)
	res := push(t, st, t.TempDir(), PushOptions{})
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Pull(context.Background(), st, res.ID, file, PullOptions{}); !errors.Is(err, ErrBadSource) {
		t.Errorf("Pull onto a file = %v, want ErrBadSource", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "x" {
		t.Error("file changed")
	}
}

// A packed chunk that is damaged, cut short or whose pack is gone fails
// the pull naming the file and digest, leaves the target as it was, and
// shows in Verify.
func TestPullBadPackedChunk(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		src := sampleTree(t)
		res := push(t, st, src, PushOptions{})
		m, _ := Load(ctx, st, res.ID)
		var victim Entry
		for _, e := range m.Entries {
			if e.Path == "data/shard-1" {
				victim = e
			}
		}
		d := victim.Chunks[0].Digest
		loc, err := Locate(ctx, st, res.ID, d)
		if err != nil || !strings.HasPrefix(loc.Key, "packs/") {
			t.Fatalf("data/shard-1 is at %+v, %v; want a pack", loc, err)
		}
		rc, err := st.Get(ctx, loc.Key)
		if err != nil {
			t.Fatal(err)
		}
		good, _ := io.ReadAll(rc)
		rc.Close()
		put := func(data []byte) func() error {
			return func() error { return st.Put(ctx, loc.Key, bytes.NewReader(data), int64(len(data))) }
		}
		flipped := bytes.Clone(good)
		flipped[loc.Off+loc.Len/2] ^= 1
		cut := loc.Off + loc.Len/2
		// A pull streams directories and reads a pack in several ranges
		// at once, so a pack cut short fails it at whichever chunk past
		// the cut a worker reads first: any of them is a right answer.
		var pastCut []string
		for _, e := range m.Entries {
			for _, c := range e.Chunks {
				if l, err := Locate(ctx, st, res.ID, c.Digest); err == nil && l.Key == loc.Key && l.Off+l.Len > cut {
					pastCut = append(pastCut, c.Digest.String())
				}
			}
		}
		cases := []struct {
			name   string
			break_ func() error
			want   error
		}{
			{"corrupt", put(flipped), ErrDigestMismatch},
			{"truncated", put(good[:cut]), ErrDigestMismatch},
			{"missing", func() error { return st.Delete(ctx, loc.Key) }, ErrChunkMissing},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if err := c.break_(); err != nil {
					t.Fatal(err)
				}
				dir, before := existingTarget(t)
				_, err := Pull(ctx, st, res.ID, dir, PullOptions{})
				// A missing pack is reported at the first of its chunks.
				named := strings.Contains(err.Error(), d.String()) || c.want == ErrChunkMissing && strings.Contains(err.Error(), "is missing") ||
					c.name == "truncated" && slices.ContainsFunc(pastCut, func(s string) bool { return strings.Contains(err.Error(), s) })
				if !errors.Is(err, c.want) || !named {
					t.Errorf("Pull = %v; want %v naming the digest", err, c.want)
				}
				assertUntouched(t, dir, before)
				rep, err := Verify(ctx, st, res.ID)
				if err != nil || rep.OK() || !errors.Is(rep.Err(), c.want) || !slices.ContainsFunc(rep.Broken, func(p Problem) bool { return p.Digest == d && p.Path == "data/shard-1" }) {
					t.Errorf("Verify = %+v, %v; want data/shard-1 broken", rep, err)
				}
			})
		}
	})
}
