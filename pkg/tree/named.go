package tree

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
)

// LatestNamed returns, for every push name in the store, the tree pushed
// last under it. Written for catalog prune, which keeps these live so that
// a sweep never takes the latest `stage push` of a name that no restore
// point refers to.
func LatestNamed(ctx context.Context, st store.Store) (map[string]ID, error) {
	// Latest by the store's time of the name record (see History); keys,
	// listed in order, break ties.
	latest := map[string]NamedTree{}
	stored := map[string]time.Time{}
	err := st.List(ctx, "names/", func(info store.Info) error {
		name, _, ok := strings.Cut(strings.TrimPrefix(info.Key, "names/"), "/")
		if !ok {
			return nil
		}
		nt, ok := parseNameKey(info.Key)
		if !ok {
			return nil
		}
		if cur, seen := stored[name]; !seen || !info.ModTime.Before(cur) {
			latest[name], stored[name] = nt, info.ModTime
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list push names: %w", err)
	}
	out := make(map[string]ID, len(latest))
	for name, nt := range latest {
		out[name] = nt.ID
	}
	return out, nil
}
