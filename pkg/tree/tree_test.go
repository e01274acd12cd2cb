package tree

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
)

func TestRoundTrip(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		src := sampleTree(t)
		want := snapshotDir(t, src)
		res := push(t, st, src, PushOptions{Name: "ds"})
		if res.Files != 6 || res.ChunksUploaded < 6 {
			t.Errorf("push result %+v: want 6 files and several chunks", res)
		}
		dst := filepath.Join(t.TempDir(), "restored")
		pr, err := Pull(context.Background(), st, res.ID, dst, PullOptions{KeepSetID: true})
		if err != nil {
			t.Fatalf("Pull: %v", err)
		}
		if pr.Bytes != res.Bytes || pr.BytesDownloaded != res.Bytes {
			t.Errorf("pull result %+v, pushed %d bytes", pr, res.Bytes)
		}
		got := snapshotDir(t, dst)
		assertSameDir(t, want, got)
		if got["empty-dir"].mtime != want["empty-dir"].mtime {
			t.Errorf("directory mtime not restored")
		}
		t.Cleanup(func() { _ = os.Chmod(filepath.Join(dst, "locked"), 0o755) })
		m, err := Load(context.Background(), st, res.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range m.Entries {
			if e.Path == "ckpt/model.bin" && len(e.Chunks) < 2 {
				t.Errorf("6 MiB file has %d chunk(s), want several", len(e.Chunks))
			}
		}
		rep, err := Verify(context.Background(), st, res.ID)
		if err != nil || !rep.OK() {
			t.Errorf("Verify = %+v, %v", rep, err)
		}
	})
}

func TestDedup(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		src := t.TempDir()
		same := randBytes(7, 300<<10)
		writeFile(t, src, "a", same, 0o644, epoch)
		writeFile(t, src, "b", same, 0o644, epoch)
		writeFile(t, src, "c/d", same, 0o644, epoch)
		first := push(t, st, src, PushOptions{})
		if first.BytesUploaded != int64(len(same)) {
			t.Errorf("three identical files uploaded %d bytes, want %d", first.BytesUploaded, len(same))
		}
		// Another tree, same content under a new path, with the first as
		// parent: read again, nothing to upload.
		other := t.TempDir()
		writeFile(t, other, "copy", same, 0o600, epoch.Add(time.Minute))
		second := push(t, st, other, PushOptions{Parent: first.ID})
		if second.BytesUploaded != 0 || second.BytesRead != int64(len(same)) {
			t.Errorf("second run: %+v, want all read and nothing uploaded", second)
		}
	})
}

// Without a parent, a push finds large chunks already stored (one lookup
// each) and packs small ones again rather than search the store for them.
func TestDedupWithoutParent(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		src := t.TempDir()
		big := randBytes(8, 6<<20)
		writeFile(t, src, "big", big, 0o644, epoch)
		writeFile(t, src, "small", randBytes(9, 10<<10), 0o644, epoch)
		first := push(t, st, src, PushOptions{})
		m, err := Load(context.Background(), st, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		var small int64
		for _, e := range m.Entries {
			for _, c := range e.Chunks {
				if packed(c.Size) {
					small += c.Size
				}
			}
		}
		again := push(t, st, src, PushOptions{Rehash: true})
		if again.BytesUploaded != small {
			t.Errorf("push without a parent uploaded %d bytes, want %d (the packed chunks only)", again.BytesUploaded, small)
		}
		if rep, err := Verify(context.Background(), st, again.ID); err != nil || !rep.OK() {
			t.Errorf("Verify = %+v, %v", rep, err)
		}
	})
}

func TestIncremental(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		src := sampleTree(t)
		first := push(t, st, src, PushOptions{Name: "ds"})
		again := push(t, st, src, PushOptions{Name: "ds"})
		if again.ID != first.ID || again.BytesRead != 0 || again.BytesUploaded != 0 || again.Parent != first.ID {
			t.Errorf("no-op re-push: %+v", again)
		}
		writeFile(t, src, "data/shard-1", randBytes(9, 100<<10), 0o600, epoch.Add(time.Hour))
		third := push(t, st, src, PushOptions{Name: "ds"})
		if third.BytesRead != 100<<10 || third.BytesUploaded != 100<<10 || third.FilesReused != 5 {
			t.Errorf("after one change: %+v, want one 100 KiB file read and uploaded", third)
		}
		rehash := push(t, st, src, PushOptions{Parent: third.ID, Rehash: true})
		if rehash.ID != third.ID || rehash.BytesRead != third.Bytes || rehash.BytesUploaded != 0 {
			t.Errorf("rehash: %+v", rehash)
		}
		h, err := History(context.Background(), st, "ds")
		if err != nil || len(h) != 3 || h[2].ID != third.ID {
			t.Errorf("History = %v, %v", h, err)
		}
		m1, _ := Load(context.Background(), st, first.ID)
		m3, _ := Load(context.Background(), st, third.ID)
		if d := Diff(m1, m3); len(d) != 1 || d[0].Path != "data/shard-1" {
			t.Errorf("Diff = %v", d)
		}
	})
}

func TestInPlaceChangeUploadsLittle(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		src := t.TempDir()
		data := randBytes(11, 16<<20)
		writeFile(t, src, "ckpt", data, 0o644, epoch)
		first := push(t, st, src, PushOptions{})
		copy(data[8<<20:], randBytes(12, len(data)/10))
		writeFile(t, src, "ckpt", data, 0o644, epoch.Add(time.Second))
		second := push(t, st, src, PushOptions{Parent: first.ID})
		if second.BytesUploaded > int64(len(data))*3/10 {
			t.Errorf("a 10%% change uploaded %d of %d bytes", second.BytesUploaded, len(data))
		}
	})
}

func TestPushBadSource(t *testing.T) {
	st, _ := newFileStore(t)
	file := filepath.Join(t.TempDir(), "f")
	writeFile(t, filepath.Dir(file), "f", []byte("x"), 0o644, epoch)
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), file} {
		if _, err := Push(context.Background(), st, dir, PushOptions{}); !errors.Is(err, ErrBadSource) {
			t.Errorf("Push(%s) = %v, want ErrBadSource", dir, err)
		}
	}
	if _, err := Push(context.Background(), st, t.TempDir(), PushOptions{Name: "a/b"}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("bad name: %v", err)
	}
}

func TestPushSkipsSpecialFiles(t *testing.T) {
	st, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "ok", []byte("x"), 0o644, epoch)
	if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(src, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res := push(t, st, src, PushOptions{})
	if res.Skipped != 2 || res.Files != 1 {
		t.Errorf("result %+v, want 1 file and 2 skipped", res)
	}
}

func TestPushDetectsChangingFile(t *testing.T) {
	st, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "growing", randBytes(1, 1<<20), 0o644, epoch)
	writeFile(t, src, "steady", []byte("x"), 0o644, epoch)
	t.Cleanup(func() { testHookRead = nil })
	appendTo := func(abs string) {
		if filepath.Base(abs) != "growing" {
			return
		}
		f, err := os.OpenFile(abs, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		f.Write([]byte("more"))
		f.Close()
	}
	testHookRead = appendTo
	_, err := Push(context.Background(), st, src, PushOptions{})
	if !errors.Is(err, ErrFileChanged) {
		t.Fatalf("Push = %v, want ErrFileChanged", err)
	}
	// A file that changes once is read again and recorded whole.
	calls := 0
	testHookRead = func(abs string) {
		if filepath.Base(abs) == "growing" {
			calls++
			if calls == 1 {
				appendTo(abs)
			}
		}
	}
	res, err := Push(context.Background(), st, src, PushOptions{})
	if err != nil {
		t.Fatalf("Push after one change: %v", err)
	}
	fi, err := os.Stat(filepath.Join(src, "growing"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := Load(context.Background(), st, res.ID)
	for _, e := range m.Entries {
		if e.Path == "growing" && e.Size != fi.Size() {
			t.Errorf("recorded size %d, want %d (the file as it is now)", e.Size, fi.Size())
		}
	}
}

func newFileStore(t *testing.T) (store.Store, string) {
	t.Helper()
	root := t.TempDir()
	st, err := storeFromDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return st, root
}

func TestSweep(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		a, b := t.TempDir(), t.TempDir()
		shared := randBytes(20, 50<<10)
		writeFile(t, a, "shared", shared, 0o644, epoch)
		writeFile(t, a, "only-a", randBytes(21, 50<<10), 0o644, epoch)
		writeFile(t, b, "shared", shared, 0o644, epoch)
		ra := push(t, st, a, PushOptions{Name: "a"})
		rb := push(t, st, b, PushOptions{Name: "b"})
		later := func() time.Time { return time.Now().Add(time.Hour) }

		// Within the grace period nothing goes.
		res, err := Sweep(ctx, st, []ID{rb.ID}, SweepOptions{Grace: 2 * time.Hour, Now: later})
		if err != nil || res.ChunksDeleted != 0 || res.PacksDeleted != 0 || res.TreesDeleted != 0 {
			t.Fatalf("sweep in grace: %+v, %v", res, err)
		}
		dry, err := Sweep(ctx, st, []ID{rb.ID}, SweepOptions{DryRun: true, Now: later})
		if err != nil || dry.PacksDeleted != 1 || dry.TreesDeleted != 1 {
			t.Fatalf("dry run: %+v, %v", dry, err)
		}
		res, err = Sweep(ctx, st, []ID{rb.ID}, SweepOptions{Now: later})
		if err != nil || res.PacksDeleted != 1 || res.TreesDeleted != 1 {
			t.Fatalf("sweep: %+v, %v", res, err)
		}
		if _, err := Load(ctx, st, ra.ID); !errors.Is(err, ErrTreeNotFound) {
			t.Errorf("swept tree still loads: %v", err)
		}
		if rep, err := Verify(ctx, st, rb.ID); err != nil || !rep.OK() {
			t.Errorf("live tree broken after sweep: %+v %v", rep, err)
		}
		if _, ok, _ := LastByName(ctx, st, "a"); ok {
			t.Errorf("name of a swept tree survives")
		}
		if _, err := Sweep(ctx, st, []ID{ra.ID}, SweepOptions{Now: later}); !errors.Is(err, ErrTreeNotFound) {
			t.Errorf("sweep with a missing live tree = %v, want ErrTreeNotFound", err)
		}
	})
}

func TestSweepRespectsRunningPush(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		src := t.TempDir()
		writeFile(t, src, "f", randBytes(30, 10<<10), 0o644, epoch)
		l, err := takeLease(ctx, st, time.Now(), "other")
		if err != nil {
			t.Fatal(err)
		}
		defer l.release()
		// An orphan chunk uploaded by the "running" push.
		res := push(t, st, src, PushOptions{})
		if err := st.Delete(ctx, treeKey(res.ID)); err != nil {
			t.Fatal(err)
		}
		sw, err := Sweep(ctx, st, nil, SweepOptions{Now: func() time.Time { return time.Now().Add(time.Hour) }})
		if err != nil || sw.ChunksDeleted != 0 || sw.ActivePushes != 1 {
			t.Errorf("sweep during a push: %+v, %v", sw, err)
		}
	})
}

// putMarker writes a sweep marker as a running sweep would, without its
// heartbeat, and returns its key.
func putMarker(t *testing.T, st store.Store) string {
	t.Helper()
	key := fmt.Sprintf("sweeps/%020d-%s", time.Now().UnixNano(), randHex())
	if err := st.Put(context.Background(), key, strings.NewReader("{}"), 2); err != nil {
		t.Fatal(err)
	}
	return key
}

// age sets a file store object's modification time d into the past.
func age(t *testing.T, root, key string, d time.Duration) {
	t.Helper()
	ts := time.Now().Add(-d)
	if err := os.Chtimes(filepath.Join(root, filepath.FromSlash(key)), ts, ts); err != nil {
		t.Fatal(err)
	}
}

func TestPushFailsOnConcurrentSweep(t *testing.T) {
	st, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "f", []byte("x"), 0o644, epoch)
	putMarker(t, st) // a sweep that started and has not finished
	_, err := Push(context.Background(), st, src, PushOptions{Name: "n"})
	if !errors.Is(err, ErrConcurrentSweep) {
		t.Fatalf("Push = %v, want ErrConcurrentSweep", err)
	}
	if _, ok, _ := LastByName(context.Background(), st, "n"); ok {
		t.Error("a push that failed was recorded under its name")
	}
}

// A push that starts after a sweep finished has nothing to fear from it and
// must not be refused (prune runs from a CronWorkflow while snapshots keep
// coming); only the store nodes' clock margin separates them.
func TestPushAfterFinishedSweep(t *testing.T) {
	ctx := context.Background()
	st, root := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "f", []byte("x"), 0o644, epoch)
	if _, err := Push(ctx, st, src, PushOptions{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Sweep(ctx, st, nil, SweepOptions{}); err != nil {
		t.Fatal(err)
	}
	// The sweep ended a little more than the clock margin ago.
	err := st.List(ctx, "sweeps/", func(info store.Info) error {
		age(t, root, info.Key, clockMargin+time.Second)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, src, "g", []byte("y"), 0o644, epoch)
	if _, err := Push(ctx, st, src, PushOptions{Name: "n"}); err != nil {
		t.Fatalf("push right after a finished sweep: %v", err)
	}
	// A sweep without a .done marker counts while its marker is fresh...
	key := putMarker(t, st)
	if _, err := Push(ctx, st, src, PushOptions{Name: "n"}); !errors.Is(err, ErrConcurrentSweep) {
		t.Fatalf("push during an unfinished sweep: %v, want ErrConcurrentSweep", err)
	}
	// ...and is dead minutes after its last heartbeat, not a day.
	age(t, root, key, sweepStaleAfter+clockMargin+time.Second)
	if _, err := Push(ctx, st, src, PushOptions{Name: "n"}); err != nil {
		t.Fatalf("push after a sweep died %s ago: %v", sweepStaleAfter, err)
	}
}
