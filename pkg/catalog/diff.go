package catalog

import (
	"context"
	"fmt"
	"sort"

	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree"
)

// PathDiff is what changed under one staged path.
type PathDiff struct {
	Path    string        `json:"path"`
	From    string        `json:"from,omitempty"` // tree in the older restore point; "" if not staged there
	To      string        `json:"to,omitempty"`
	Changes []tree.Change `json:"changes"`
}

// Diff lists the files added, removed and changed from restore point a to b,
// per staged path (a path staged in only one of them counts as all added or
// all removed). Paths with no change are left out.
func Diff(ctx context.Context, st store.Store, a, b *restorepoint.Record) ([]PathDiff, error) {
	paths := map[string]bool{}
	for _, t := range a.Trees {
		paths[t.Path] = true
	}
	for _, t := range b.Trees {
		paths[t.Path] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	var out []PathDiff
	for _, p := range sorted {
		ta, _ := a.TreeFor(p)
		tb, _ := b.TreeFor(p)
		if ta.Tree == tb.Tree {
			continue
		}
		ma, err := manifest(ctx, st, ta.Tree)
		if err != nil {
			return nil, fmt.Errorf("diff %s: %s of %s: %w", p, a.ID, a.Pipeline, err)
		}
		mb, err := manifest(ctx, st, tb.Tree)
		if err != nil {
			return nil, fmt.Errorf("diff %s: %s of %s: %w", p, b.ID, b.Pipeline, err)
		}
		if ch := tree.Diff(ma, mb); len(ch) > 0 {
			out = append(out, PathDiff{Path: p, From: ta.Tree, To: tb.Tree, Changes: ch})
		}
	}
	return out, nil
}

func manifest(ctx context.Context, st store.Store, id string) (*tree.Manifest, error) {
	if id == "" {
		return nil, nil
	}
	tid, err := tree.ParseID(id)
	if err != nil {
		return nil, err
	}
	return tree.Load(ctx, st, tid)
}
