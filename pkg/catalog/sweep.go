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
// restore point of every pipeline in the store (staged trees, and the trees
// Kanister actions recorded under the artifact key KanisterTreeKey, as the
// mlstate-stage Blueprint does), and the last tree pushed under each name. skip names restore points ("pipeline/id") to leave out,
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
			kt, err := kanisterTrees(ctx, st, rec)
			if err != nil {
				return nil, fmt.Errorf("find live trees (nothing was swept): restore point %s/%s: %w", p, id, err)
			}
			for _, t := range kt {
				add(t)
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

// KanisterTreeKey is the output-artifact key under which a Blueprint
// records a tree it pushed into the store (mlstate-stage's backup does).
const KanisterTreeKey = "mlstateTree"

// kanisterTrees returns the trees rec's Kanister actions pushed into st. A
// Blueprint may push into another store (its mlstateStore option), so a
// tree that is not in st is not this sweep's to keep; a recorded value
// that is not a tree ID is an error, as for staged trees.
func kanisterTrees(ctx context.Context, st store.Store, rec *restorepoint.Record) ([]tree.ID, error) {
	var out []tree.ID
	for _, a := range rec.Kanister {
		for name, art := range a.Artifacts {
			v, ok := art.KeyValue[KanisterTreeKey]
			if !ok {
				continue
			}
			id, err := tree.ParseID(v)
			if err != nil {
				return nil, fmt.Errorf("action %s artifact %s: %s: %w", a.ActionSet, name, KanisterTreeKey, err)
			}
			found, err := tree.Exists(ctx, st, id)
			if err != nil {
				return nil, err
			}
			if found {
				out = append(out, id)
			}
		}
	}
	return out, nil
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
