package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree"
)

// LiveTrees returns the trees that must survive a sweep: those of every
// restore point of every pipeline in the store, and the last tree pushed
// under each name. skip names restore points ("pipeline/id") to leave out,
// for a dry run that pretends they are gone. A record that cannot be read
// is an error: sweeping on an incomplete live set would lose data.
func LiveTrees(ctx context.Context, st store.Store, skip map[string]bool) ([]tree.ID, error) {
	pipelines, err := restorepoint.Pipelines(ctx, st)
	if err != nil {
		return nil, err
	}
	seen := map[tree.ID]bool{}
	var live []tree.ID
	add := func(id tree.ID) {
		if !seen[id] {
			seen[id] = true
			live = append(live, id)
		}
	}
	for _, p := range pipelines {
		ids, err := restorepoint.List(ctx, st, p)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if skip[p+"/"+id] {
				continue
			}
			rec, err := restorepoint.Get(ctx, st, p, id, false)
			if err != nil {
				return nil, fmt.Errorf("find live trees (nothing was swept): %w", err)
			}
			for _, t := range rec.Trees {
				tid, err := tree.ParseID(t.Tree)
				if err != nil {
					return nil, fmt.Errorf("find live trees (nothing was swept): restore point %s/%s: %w", p, id, err)
				}
				add(tid)
			}
		}
	}
	named, err := tree.LatestNamed(ctx, st)
	if err != nil {
		return nil, err
	}
	for _, id := range named {
		add(id)
	}
	return live, nil
}

func sweep(ctx context.Context, st store.Store, removed []struct{ pipeline, id string }, opts PruneOptions, now func() time.Time, log *slog.Logger) (*tree.SweepResult, error) {
	skip := map[string]bool{}
	if opts.DryRun {
		for _, d := range removed {
			skip[d.pipeline+"/"+d.id] = true
		}
	}
	// The live set is computed by Sweep itself, after its marker and the
	// lease listing: a push naming its tree in between is then either in
	// the live set or still holding its lease.
	live := func(ctx context.Context) ([]tree.ID, error) {
		ids, err := LiveTrees(ctx, st, skip)
		slices.SortFunc(ids, func(a, b tree.ID) int { return slices.Compare(a[:], b[:]) })
		return ids, err
	}
	res, err := tree.Sweep(ctx, st, nil, tree.SweepOptions{DryRun: opts.DryRun, Grace: opts.Grace, Live: live, Logger: log, Now: now})
	if err != nil {
		return &res, fmt.Errorf("sweep unreferenced chunks: %w", err)
	}
	log.Info("swept", "liveTrees", res.LiveTrees, "treesDeleted", res.TreesDeleted, "chunksDeleted", res.ChunksDeleted,
		"packsDeleted", res.PacksDeleted, "packsRepacked", res.PacksRepacked,
		"bytesDeleted", res.BytesDeleted, "activePushes", res.ActivePushes, "dryRun", opts.DryRun)
	return &res, nil
}
