package tree

import (
	"context"
	"errors"
	"fmt"

	"github.com/mlstate/mlstate/pkg/store"
)

// Exists reports whether tree id is in the store, without reading it.
func Exists(ctx context.Context, st store.Store, id ID) (bool, error) {
	_, err := st.Stat(ctx, treeKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look for tree %s: %w", id.Short(), err)
	}
	return true, nil
}
