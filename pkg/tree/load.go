package tree

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mlstate/mlstate/pkg/store"
)

// maxManifest bounds what Load reads: ~10M entries' worth.
const maxManifest = 2 << 30

// Load reads tree id, checks that its bytes hash to id and that it is a
// valid, safe manifest.
func Load(ctx context.Context, st store.Store, id ID) (*Manifest, error) {
	rc, err := st.Get(ctx, treeKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s in %s", ErrTreeNotFound, id, st)
	}
	if err != nil {
		return nil, fmt.Errorf("load tree %s: %w", id.Short(), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxManifest))
	if err != nil {
		return nil, fmt.Errorf("load tree %s: %w", id.Short(), err)
	}
	if Sum(data) != id {
		return nil, fmt.Errorf("load tree %s: manifest %w", id.Short(), ErrDigestMismatch)
	}
	m, err := DecodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("load tree %s: %w", id.Short(), err)
	}
	return m, nil
}

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
