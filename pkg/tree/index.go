package tree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree/pack"
)

// loadIndex reads the pack index of tree id. A tree without one (pushed
// before packs, or holding only large chunks) has every chunk as a single
// object: found is false and the error nil.
func loadIndex(ctx context.Context, st store.Store, id ID) (ix pack.Index, found bool, err error) {
	rc, err := st.Get(ctx, pack.IndexKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return pack.Index{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("load the pack index of tree %s: %w", id.Short(), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxManifest))
	if err != nil {
		return nil, false, fmt.Errorf("load the pack index of tree %s: %w", id.Short(), err)
	}
	ix, err = pack.Decode(data)
	if err != nil {
		return nil, false, fmt.Errorf("load the pack index of tree %s: %w", id.Short(), err)
	}
	return ix, true, nil
}

// storeIndex writes the pack index of a new tree, unless the tree already
// has one: an existing index is kept up to date by prunes that repack, and
// one this push would write might name packs a prune is removing.
func storeIndex(ctx context.Context, st store.Store, id ID, ix pack.Index) error {
	data := ix.Encode()
	err := st.PutIfAbsent(ctx, pack.IndexKey(id), bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("store the pack index of tree %s: %w", id.Short(), err)
	}
	return nil
}

// treeIndex returns the locations of m's packed chunks, from the chunks
// this push packed and, for the chunks it reused, the parent's index.
func treeIndex(m *Manifest, fresh, parent pack.Index) pack.Index {
	ix := pack.Index{}
	for _, e := range m.Entries {
		for _, c := range e.Chunks {
			if l, ok := fresh[c.Digest]; ok {
				ix[c.Digest] = l
			} else if l, ok := parent[c.Digest]; ok {
				ix[c.Digest] = l
			}
		}
	}
	return ix
}
