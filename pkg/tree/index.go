package tree

import (
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
//
// The index is decoded as it streams in: a million-file tree's index is
// tens of MiB encoded, and holding those bytes besides the decoded index
// would cost as much again.
func loadIndex(ctx context.Context, st store.Store, id ID) (ix *pack.Index, found bool, err error) {
	// Its size lets the decoder make room for every entry at once.
	info, err := st.Stat(ctx, pack.IndexKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return &pack.Index{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("load the pack index of tree %s: %w", id.Short(), err)
	}
	rc, err := st.Get(ctx, pack.IndexKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return &pack.Index{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("load the pack index of tree %s: %w", id.Short(), err)
	}
	defer rc.Close()
	ix, err = pack.ReadIndex(io.LimitReader(rc, maxManifest), info.Size)
	if err != nil && !errors.Is(err, pack.ErrBadIndex) {
		return nil, false, fmt.Errorf("load the pack index of tree %s: %w", id.Short(), err)
	}
	if err != nil {
		// An integrity failure, like a damaged manifest.
		return nil, false, fmt.Errorf("load the pack index of tree %s: %w (%w)", id.Short(), ErrDigestMismatch, err)
	}
	return ix, true, nil
}

// storeIndex writes the pack index of a new tree, unless the tree already
// has one: an existing index is kept up to date by prunes that repack, and
// one this push would write might name packs a prune is removing.
//
// The encoding streams to the store as it is written: at a million chunks
// its tens of MiB would otherwise be held next to the index itself.
func storeIndex(ctx context.Context, st store.Store, id ID, ix *pack.Index) error {
	enc := ix.Encoding()
	pr, pw := io.Pipe()
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		_, err := enc.WriteTo(pw)
		pw.CloseWithError(err)
	}()
	err := st.PutIfAbsent(ctx, pack.IndexKey(id), pr, enc.Size())
	// A store that stopped reading early (the index exists, or it failed)
	// ends the writer.
	pr.CloseWithError(errors.New("the store stopped reading the index"))
	<-wrote
	if err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("store the pack index of tree %s: %w", id.Short(), err)
	}
	return nil
}

// Location is where a chunk of a tree is stored: Len bytes at Off in the
// object Key (a pack, or the chunk's own object with Off 0).
type Location struct {
	Key      string `json:"key"`
	Off, Len int64
}

// Locate says where chunk d of tree id is stored, for inspection (and for
// tests that damage a store on purpose).
func Locate(ctx context.Context, st store.Store, id, d ID) (Location, error) {
	var size int64
	errFound := errors.New("found")
	err := Walk(ctx, st, id, func(e *Entry) error {
		for _, c := range e.Chunks {
			if c.Digest == d {
				size = c.Size
				return errFound
			}
		}
		return nil
	})
	if err == nil {
		return Location{}, fmt.Errorf("tree %s has no chunk %s", id.Short(), d.Short())
	}
	if !errors.Is(err, errFound) {
		return Location{}, err
	}
	ix, _, err := loadIndex(ctx, st, id)
	if err != nil {
		return Location{}, err
	}
	if l, ok := ix.Lookup(d); ok && l.Len == size {
		return Location{Key: pack.Key(l.Pack), Off: l.Off, Len: l.Len}, nil
	}
	return Location{Key: chunkKey(d), Len: size}, nil
}
