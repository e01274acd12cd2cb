package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mlstate/mlstate/pkg/testsupport"
	"github.com/mlstate/mlstate/pkg/tree"
)

// TestFullTarget pulls into a file system too small for the tree: the pull
// fails, the target is as it was, and no space is left taken; a tree that
// fits pulls fine afterwards.
func TestFullTarget(t *testing.T) {
	c := newTally(t)
	vol := filepath.Join(t.TempDir(), "vol")
	testsupport.MountTmpfs(t, vol, "2m")
	st, _ := fileStore(t)
	ctx := context.Background()
	big, small := t.TempDir(), t.TempDir()
	writeTree(t, big, sampleFiles(5, 4<<20))
	writeTree(t, small, map[string][]byte{"fits": []byte("a small tree")})
	rb, err := tree.Push(ctx, st, big, tree.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := tree.Push(ctx, st, small, tree.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(vol, "target")
	writeTree(t, target, map[string][]byte{"keep": []byte("old")})
	before := testsupport.Fingerprint(t, target)
	free := func() uint64 {
		var s unix.Statfs_t
		if err := unix.Statfs(vol, &s); err != nil {
			t.Fatal(err)
		}
		return s.Bfree
	}
	was := free()
	_, err = tree.Pull(ctx, st, rb.ID, target, tree.PullOptions{Delete: true})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("pull into a full file system = %v, want ENOSPC", err)
	}
	c.add(1)
	testsupport.SameFingerprint(t, before, testsupport.Fingerprint(t, target))
	if now := free(); now != was {
		t.Errorf("the failed pull left %d blocks taken", was-now)
	}
	if _, err := tree.Pull(ctx, st, rs.ID, target, tree.PullOptions{Delete: true}); err != nil {
		t.Fatalf("next pull of a tree that fits: %v", err)
	}
	testsupport.SameFingerprint(t, testsupport.Fingerprint(t, small), testsupport.Fingerprint(t, target))
}

// TestPushPruneRace runs pushes and sweeps against each other in a loop.
// Each push either succeeds, and its tree is whole right then (its index
// names only whole packs: the sweep deleted none it uses), or is refused
// as safe to retry; the last tree pushed stays whole. Each round changes
// most small files, so sweeps also delete and repack packs.
func TestPushPruneRace(t *testing.T) {
	c := newTally(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			r := seeded(t)
			src := t.TempDir()
			writeTree(t, src, sampleFiles(6, 1<<20))
			live := func(ctx context.Context) ([]tree.ID, error) {
				named, err := tree.LatestNamed(ctx, b.st)
				var ids []tree.ID
				for _, id := range named {
					ids = append(ids, id)
				}
				return ids, err
			}
			// Each round starts a push and, within twice a push's time, a sweep.
			began := time.Now()
			if _, err := tree.Push(ctx, b.st, src, tree.PushOptions{Name: "race"}); err != nil {
				t.Fatal(err)
			}
			span := 2 * int64(time.Since(began))
			var last tree.ID
			refused, won := 0, 0
			packsDeleted, packsRepacked := 0, 0
			for i := range 8 {
				writeTree(t, src, map[string][]byte{"gen": []byte(fmt.Sprint(i)), fmt.Sprintf("new/%d", i): []byte(fmt.Sprint("fresh ", i))})
				// Most of the small files change: the last round's packs
				// become mostly dead.
				writeTree(t, src, smallFiles(r, 300, 4<<10))
				writeTree(t, src, map[string][]byte{"set/f0000": []byte("kept across rounds")})
				var wg sync.WaitGroup
				var sweepErr error
				var swept tree.SweepResult
				wg.Add(1)
				go func() {
					defer wg.Done()
					time.Sleep(time.Duration(rand.Int63n(span))) // vary who is first
					swept, sweepErr = tree.Sweep(ctx, b.st, nil, tree.SweepOptions{Live: live})
				}()
				res, err := tree.Push(ctx, b.st, src, tree.PushOptions{Name: "race"})
				wg.Wait()
				packsDeleted += swept.PacksDeleted
				packsRepacked += swept.PacksRepacked
				if sweepErr != nil {
					t.Fatalf("round %d: sweep: %v", i, sweepErr)
				}
				if errors.Is(err, tree.ErrConcurrentSweep) {
					refused++
					continue
				}
				if err != nil {
					t.Fatalf("round %d: push: %v", i, err)
				}
				won++
				last = res.ID
				// After the sweep it raced: a push that succeeded is whole.
				indexesSound(t, b.st, map[tree.ID]bool{last: true})
				if rep, err := tree.Verify(ctx, b.st, last); err != nil || !rep.OK() {
					t.Fatalf("round %d: the push succeeded but its tree is not whole: %+v %v", i, rep, err)
				}
			}
			// The retry a template would make, with no sweep running.
			res, err := tree.Push(ctx, b.st, src, tree.PushOptions{Name: "race"})
			if err != nil {
				t.Fatalf("push after the races: %v", err)
			}
			if _, err := tree.Sweep(ctx, b.st, nil, tree.SweepOptions{Live: live}); err != nil {
				t.Fatal(err)
			}
			if !last.IsZero() && last != res.ID {
				t.Logf("last raced push %s superseded by %s", last.Short(), res.ID.Short())
			}
			last = res.ID
			verified(t, b.st, last, testsupport.Fingerprint(t, src))
			t.Logf("8 push/sweep races: %d pushes went through whole, %d refused as safe to retry; the sweeps deleted %d packs and repacked %d", won, refused, packsDeleted, packsRepacked)
			c.add(8) // every race is a fault the push had to survive
		})
	}
}
