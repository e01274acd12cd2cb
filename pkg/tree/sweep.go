package tree

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
)

// SweepOptions tune Sweep. The zero value deletes, keeps nothing for a
// grace period beyond what running pushes need, and expires leases after
// DefaultLeaseExpiry.
type SweepOptions struct {
	// DryRun counts what would be deleted without deleting it.
	DryRun bool
	// Grace keeps chunks and trees modified less than this long ago.
	Grace time.Duration
	// LeaseExpiry is how old a push lease may be before it counts as left
	// behind by a crashed push; 0 means DefaultLeaseExpiry.
	LeaseExpiry time.Duration
	// Logger receives a line per deletion at debug level; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultLeaseExpiry bounds how long a crashed push can hold back sweeps.
const DefaultLeaseExpiry = 24 * time.Hour

// SweepResult counts what Sweep kept and deleted (or would delete).
type SweepResult struct {
	LiveTrees     int   `json:"live-trees"` // roots: live plus recent trees
	TreesDeleted  int   `json:"trees-deleted"`
	ChunksKept    int   `json:"chunks-kept"`
	ChunksDeleted int   `json:"chunks-deleted"`
	BytesDeleted  int64 `json:"bytes-deleted"`
	ActivePushes  int   `json:"active-pushes"`
}

// Sweep deletes the chunks and trees not reachable from live, safe against
// pushes running at the same time (see lease.go). A live tree that does not
// exist is an error: deleting on a wrong live list would lose data.
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
	finish := func() {}
	if !opts.DryRun {
		var err error
		if finish, err = startSweepRecord(ctx, st, start); err != nil {
			return res, err
		}
	}
	defer finish()
	if !opts.DryRun {
		if err := pruneSweepRecords(ctx, st, start, opts); err != nil {
			return res, err
		}
	}
	cutoff, active, err := sweepCutoff(ctx, st, start, opts)
	if err != nil {
		return res, err
	}
	res.ActivePushes = active
	roots, doomedTrees, err := sweepRoots(ctx, st, live, cutoff)
	if err != nil {
		return res, err
	}
	res.LiveTrees = len(roots)
	keep := map[ID]bool{}
	for _, id := range roots {
		m, err := Load(ctx, st, id)
		if err != nil {
			return res, fmt.Errorf("sweep: %w", err)
		}
		for _, e := range m.Entries {
			for _, c := range e.Chunks {
				keep[c.Digest] = true
			}
		}
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
	if opts.DryRun {
		return res, nil
	}
	// Trees and their names go first: a tree must never outlive its chunks.
	var treeKeys []string
	for id := range doomedTrees {
		treeKeys = append(treeKeys, treeKey(id))
	}
	nameKeys, err := namesOf(ctx, st, doomedTrees)
	if err != nil {
		return res, err
	}
	for _, keys := range [][]string{nameKeys, treeKeys, doomed} {
		if err := deleteAll(ctx, st, keys, opts.Logger); err != nil {
			return res, err
		}
	}
	return res, nil
}

func startSweepRecord(ctx context.Context, st store.Store, start time.Time) (func(), error) {
	key := fmt.Sprintf("sweeps/%020d-%s", start.UnixNano(), randHex())
	if err := st.Put(ctx, key, strings.NewReader("{}"), 2); err != nil {
		return nil, fmt.Errorf("sweep: record start: %w", err)
	}
	return func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = st.Put(c, key+doneSuffix, strings.NewReader("{}"), 2)
	}, nil
}

// pruneSweepRecords removes the records of sweeps that ended longer ago
// than any push can still be running, so a push's check stays one listing.
func pruneSweepRecords(ctx context.Context, st store.Store, now time.Time, opts SweepOptions) error {
	var old []string
	err := st.List(ctx, "sweeps/", func(info store.Info) error {
		if k, ok := strings.CutSuffix(info.Key, doneSuffix); ok && info.ModTime.Before(now.Add(-opts.LeaseExpiry)) {
			old = append(old, k, info.Key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sweep: list sweep records: %w", err)
	}
	return deleteAll(ctx, st, old, opts.Logger)
}

// sweepCutoff returns the time after which nothing may be deleted: the grace
// window, moved back to before the oldest running push began. Leases older
// than LeaseExpiry are left over from crashed pushes and are removed.
func sweepCutoff(ctx context.Context, st store.Store, now time.Time, opts SweepOptions) (time.Time, int, error) {
	cutoff := now.Add(-opts.Grace)
	var stale []string
	active := 0
	err := st.List(ctx, "pushes/", func(info store.Info) error {
		t, ok := keyTime(info.Key)
		if !ok {
			return nil
		}
		if t.Before(now.Add(-opts.LeaseExpiry)) {
			stale = append(stale, info.Key)
			return nil
		}
		active++
		if c := t.Add(-leaseMargin); c.Before(cutoff) {
			cutoff = c
		}
		return nil
	})
	if err != nil {
		return cutoff, 0, fmt.Errorf("sweep: list push leases: %w", err)
	}
	if !opts.DryRun {
		if err := deleteAll(ctx, st, stale, opts.Logger); err != nil {
			return cutoff, 0, err
		}
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

func deleteAll(ctx context.Context, st store.Store, keys []string, log *slog.Logger) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, DefaultConcurrency)
	for _, k := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := st.Delete(ctx, k)
			if err == nil {
				log.Debug("deleted", "key", k)
				return
			}
			mu.Lock()
			if first == nil {
				first = fmt.Errorf("sweep: delete %s: %w", k, err)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return first
}
