package tree

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
)

// SweepOptions tune Sweep. The zero value deletes, keeps nothing for a
// grace period beyond what running pushes need, and expires leases after
// DefaultLeaseExpiry without a heartbeat.
type SweepOptions struct {
	// DryRun counts what would be deleted without deleting it.
	DryRun bool
	// Grace keeps chunks and trees modified less than this long ago.
	Grace time.Duration
	// LeaseExpiry is how long a push lease may go without a heartbeat
	// before it counts as left behind by a dead push; 0 means
	// DefaultLeaseExpiry.
	LeaseExpiry time.Duration
	// Live, when set, returns the trees to keep besides the live argument.
	// Sweep calls it after writing its marker and listing the leases, so a
	// push that finishes (and names its tree) before the call is in the
	// live set, and one still running holds its lease.
	Live func(ctx context.Context) ([]ID, error)
	// Logger receives a line per deletion at debug level; nil discards.
	Logger *slog.Logger
	// Now is the clock for the grace period; nil means time.Now.
	Now func() time.Time
}

// SweepResult counts what Sweep kept and deleted (or would delete).
type SweepResult struct {
	LiveTrees     int   `json:"live-trees"` // roots: live plus recent trees
	TreesDeleted  int   `json:"trees-deleted"`
	DirsDeleted   int   `json:"dirs-deleted"` // directory documents (dirdoc.go)
	ChunksKept    int   `json:"chunks-kept"`
	ChunksDeleted int   `json:"chunks-deleted"`
	PacksKept     int   `json:"packs-kept"`
	PacksDeleted  int   `json:"packs-deleted"`  // holding nothing live
	PacksRepacked int   `json:"packs-repacked"` // mostly dead: live chunks copied, then deleted
	BytesDeleted  int64 `json:"bytes-deleted"`
	ActivePushes  int   `json:"active-pushes"`
}

// ErrSweepStalled: a sweep could not refresh its marker, so pushes may
// take it for dead; it stopped deleting. Nothing was lost; retry later.
var ErrSweepStalled = errors.New("the sweep could not refresh its marker and stopped deleting")

// Sweep deletes the chunks and trees not reachable from live (and
// opts.Live), safe against pushes running at the same time (see lease.go).
// A live tree that does not exist is an error: deleting on a wrong live
// list would lose data. The order matters: marker, then leases, then the
// live set, then trees and chunks.
func Sweep(ctx context.Context, st store.Store, live []ID, opts SweepOptions) (SweepResult, error) {
	if opts.LeaseExpiry <= 0 {
		opts.LeaseExpiry = DefaultLeaseExpiry
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var res SweepResult
	start := opts.Now()
	mk := &marker{}
	if !opts.DryRun {
		var err error
		if mk, err = startMarker(ctx, st, start); err != nil {
			return res, err
		}
		defer mk.finish()
	}
	cutoff, active, err := sweepCutoff(ctx, st, start, mk, opts)
	if err != nil {
		return res, err
	}
	res.ActivePushes = active
	if opts.Live != nil {
		more, err := opts.Live(ctx)
		if err != nil {
			return res, err
		}
		live = append(slices.Clip(live), more...)
	}
	roots, doomedTrees, err := sweepRoots(ctx, st, live, cutoff)
	if err != nil {
		return res, err
	}
	res.LiveTrees = len(roots)
	keep, keepDirs, err := markLive(ctx, st, roots)
	if err != nil {
		return res, err
	}
	var doomedDirs []string
	err = st.List(ctx, "dirs/", func(info store.Info) error {
		id, err := ParseID(path.Base(info.Key))
		if err != nil || keepDirs[id] || info.ModTime.After(cutoff) {
			return nil
		}
		doomedDirs = append(doomedDirs, info.Key)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("sweep: list directory documents: %w", err)
	}
	res.DirsDeleted = len(doomedDirs)
	ps, err := planPacks(ctx, st, roots, keep, cutoff)
	if err != nil {
		return res, err
	}
	var doomed []string
	err = st.List(ctx, "chunks/", func(info store.Info) error {
		id, err := ParseID(path.Base(info.Key))
		if err != nil || keep[id] || info.ModTime.After(cutoff) {
			res.ChunksKept++
			return nil
		}
		doomed = append(doomed, info.Key)
		res.ChunksDeleted++
		res.BytesDeleted += info.Size
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("sweep: list chunks: %w", err)
	}
	res.TreesDeleted = len(doomedTrees)
	res.PacksKept, res.PacksDeleted, res.PacksRepacked = ps.kept, len(ps.doomedPacks), len(ps.repack)
	res.BytesDeleted += ps.doomedBytes
	if opts.DryRun {
		return res, nil
	}
	if res.PacksRepacked, err = ps.repackAll(ctx); err != nil {
		return res, err
	}
	res.PacksDeleted = len(ps.doomedPacks) - res.PacksRepacked
	// Trees and their names go first, then directory documents: a tree
	// must never outlive its documents or its chunks.
	var treeKeys []string
	for id := range doomedTrees {
		treeKeys = append(treeKeys, treeKey(id))
	}
	nameKeys, err := namesOf(ctx, st, doomedTrees)
	if err != nil {
		return res, err
	}
	// An index goes before the packs it names, and after its tree.
	for _, keys := range [][]string{nameKeys, treeKeys, doomedDirs, ps.doomedIndexes, ps.doomedPacks, doomed} {
		if err := mk.deleteAll(ctx, keys, opts.Logger); err != nil {
			return res, err
		}
	}
	return res, nil
}

// markLive returns the chunks and directory documents the roots name. A
// document shared by several roots (a directory unchanged between pushes)
// is read once.
func markLive(ctx context.Context, st store.Store, roots []ID) (chunks, dirs map[ID]bool, err error) {
	chunks, dirs = map[ID]bool{}, map[ID]bool{}
	enter := func(id ID) bool {
		if dirs[id] {
			return false
		}
		dirs[id] = true
		return true
	}
	for _, id := range roots {
		err := walkTree(ctx, st, id, enter, func(e *Entry) error {
			for _, c := range e.Chunks {
				chunks[c.Digest] = true
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("sweep: %w", err)
		}
	}
	return chunks, dirs, nil
}

// marker is a running sweep's record, kept fresh by a heartbeat.
type marker struct {
	st      store.Store
	key     string
	created time.Time // store time of the first write
	stop    chan struct{}
	done    chan struct{}

	mu     sync.Mutex
	lastOK time.Time // local clock of the last successful write
}

func startMarker(ctx context.Context, st store.Store, start time.Time) (*marker, error) {
	mk := &marker{st: st, key: fmt.Sprintf("sweeps/%020d-%s", start.UnixNano(), randHex()),
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := mk.write(ctx); err != nil {
		return nil, fmt.Errorf("sweep: record start: %w", err)
	}
	mk.lastOK = time.Now()
	info, err := listOne(ctx, st, mk.key)
	if err != nil {
		return nil, fmt.Errorf("sweep: read own marker: %w", err)
	}
	mk.created = info.ModTime
	go mk.heartbeat(ctx)
	return mk, nil
}

func (mk *marker) write(ctx context.Context) error {
	return mk.st.Put(ctx, mk.key, strings.NewReader("{}"), 2)
}

func (mk *marker) heartbeat(ctx context.Context) {
	defer close(mk.done)
	t := time.NewTicker(sweepHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-mk.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			c, cancel := context.WithTimeout(ctx, sweepHeartbeat)
			err := mk.write(c)
			cancel()
			if err == nil {
				mk.mu.Lock()
				mk.lastOK = time.Now()
				mk.mu.Unlock()
			}
		}
	}
}

// deadline is when a delete request must have ended: before pushes could
// take the marker for dead, with a quarter of the window to spare. It
// fails when the marker already went unrefreshed for half the window.
func (mk *marker) deadline() (time.Time, error) {
	mk.mu.Lock()
	last := mk.lastOK
	mk.mu.Unlock()
	if time.Since(last) > sweepStaleAfter/2 {
		return time.Time{}, fmt.Errorf("sweep: %w (last refresh %s ago); nothing it had not yet deleted is lost, run the prune again", ErrSweepStalled, time.Since(last).Round(time.Second))
	}
	return last.Add(sweepStaleAfter * 3 / 4), nil
}

// finish stops the heartbeat and writes the .done marker.
func (mk *marker) finish() {
	if mk.st == nil {
		return
	}
	close(mk.stop)
	<-mk.done
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = mk.st.Put(c, mk.key+doneSuffix, strings.NewReader("{}"), 2)
}

// deleteBatch is how many keys one delete request carries at most.
const deleteBatch = 1000

// deleteAll deletes keys in batches, each only while the marker is fresh
// and bounded so that it ends before the marker could be taken for dead.
func (mk *marker) deleteAll(ctx context.Context, keys []string, log *slog.Logger) error {
	for len(keys) > 0 {
		n := min(len(keys), deleteBatch)
		batch := keys[:n]
		keys = keys[n:]
		deadline, err := mk.deadline()
		if err != nil {
			return err
		}
		c, cancel := context.WithDeadline(ctx, deadline)
		err = deleteMany(c, mk.st, batch)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("sweep: %w (a delete request outlasted it); run the prune again", ErrSweepStalled)
			}
			return fmt.Errorf("sweep: %w", err)
		}
		for _, k := range batch {
			log.Debug("deleted", "key", k)
		}
	}
	return nil
}

// deleteMany deletes with one multi-object request where the store has
// them, else DefaultConcurrency single deletes at a time.
func deleteMany(ctx context.Context, st store.Store, keys []string) error {
	if _, ok := st.(store.BatchDeleter); ok {
		return store.DeleteMany(ctx, st, keys)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, DefaultConcurrency)
	for _, k := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := st.Delete(ctx, k); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("delete %s: %w", k, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// sweepCutoff returns the time after which nothing may be deleted: the grace
// window, moved back to before the oldest running push began. Leases not
// refreshed for LeaseExpiry (store time, against the sweep's own marker)
// were left by dead pushes and are removed, and so are the records of
// sweeps that ended before any running push began.
func sweepCutoff(ctx context.Context, st store.Store, now time.Time, mk *marker, opts SweepOptions) (time.Time, int, error) {
	cutoff := now.Add(-opts.Grace)
	storeNow := mk.created
	if storeNow.IsZero() { // dry run: no marker written
		storeNow = now
	}
	var stale []string
	active := 0
	oldest := storeNow // key time of the oldest running push
	err := st.List(ctx, "pushes/", func(info store.Info) error {
		t, ok := keyTime(info.Key)
		if !ok {
			return nil
		}
		if info.ModTime.Before(storeNow.Add(-opts.LeaseExpiry)) {
			stale = append(stale, info.Key)
			return nil
		}
		active++
		if c := t.Add(-leaseMargin); c.Before(cutoff) {
			cutoff = c
		}
		if c := t.Add(-leaseMargin); c.Before(oldest) {
			oldest = c
		}
		return nil
	})
	if err != nil {
		return cutoff, 0, fmt.Errorf("sweep: list push leases: %w", err)
	}
	if opts.DryRun {
		return cutoff, active, nil
	}
	if err := mk.deleteAll(ctx, stale, opts.Logger); err != nil {
		return cutoff, 0, err
	}
	// A finished sweep's record matters to pushes that began before it
	// ended; once none is running, it can go (marker first: a .done alone
	// still dates the end).
	recs, err := listSweeps(ctx, st)
	if err != nil {
		return cutoff, 0, fmt.Errorf("sweep: list sweep records: %w", err)
	}
	var old []string
	for key, r := range recs {
		if key != mk.key && r.end().Before(oldest.Add(-clockMargin)) && r.end().Before(storeNow.Add(-sweepStaleAfter)) {
			if r.marker.Key != "" {
				old = append(old, r.marker.Key)
			}
			if r.done.Key != "" {
				old = append(old, r.done.Key)
			}
		}
	}
	if err := mk.deleteAll(ctx, old, opts.Logger); err != nil {
		return cutoff, 0, err
	}
	return cutoff, active, nil
}

// sweepRoots returns the trees to keep (live ones plus any stored after
// cutoff) and the trees to delete.
func sweepRoots(ctx context.Context, st store.Store, live []ID, cutoff time.Time) ([]ID, map[ID]bool, error) {
	isLive := map[ID]bool{}
	for _, id := range live {
		isLive[id] = true
	}
	seen := map[ID]bool{}
	doomed := map[ID]bool{}
	var roots []ID
	err := st.List(ctx, "trees/", func(info store.Info) error {
		id, err := ParseID(path.Base(info.Key))
		if err != nil {
			return nil
		}
		seen[id] = true
		if isLive[id] || info.ModTime.After(cutoff) {
			roots = append(roots, id)
		} else {
			doomed[id] = true
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sweep: list trees: %w", err)
	}
	for _, id := range live {
		if !seen[id] {
			return nil, nil, fmt.Errorf("sweep: live %w: %s; refusing to delete anything", ErrTreeNotFound, id)
		}
	}
	return roots, doomed, nil
}

func namesOf(ctx context.Context, st store.Store, trees map[ID]bool) ([]string, error) {
	var keys []string
	err := st.List(ctx, "names/", func(info store.Info) error {
		if nt, ok := parseNameKey(info.Key); ok && trees[nt.ID] {
			keys = append(keys, info.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sweep: list names: %w", err)
	}
	return keys, nil
}
