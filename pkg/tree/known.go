package tree

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/mlstate/mlstate/pkg/store"
)

// known answers "must this chunk be stored?" without listing the store, so
// a push costs the same however many chunks the store holds. It starts
// from the parent tree's chunks (the parent's index says where they are)
// and adds every chunk this push claims. A small chunk it does not know
// goes into a new pack without asking the store: a request per small file
// would cost more than storing a few KiB again. A large chunk it does not
// know is looked up with one HEAD (its single object may be there from
// another tree), which is nothing next to uploading megabytes.
type known struct {
	st   store.Store
	mu   sync.Mutex
	have map[ID]bool
}

func newKnown(st store.Store) *known {
	return &known{st: st, have: map[ID]bool{}}
}

// add records chunks known to exist (or being uploaded).
func (k *known) add(chunks []Chunk) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range chunks {
		k.have[c.Digest] = true
	}
}

// has reports whether d is known to be stored or claimed.
func (k *known) has(d ID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.have[d]
}

// claim reports whether the caller must store d: false when the store has
// it or another worker already claimed it.
func (k *known) claim(ctx context.Context, d ID, size int64) (bool, error) {
	k.mu.Lock()
	if k.have[d] {
		k.mu.Unlock()
		return false, nil
	}
	k.have[d] = true
	k.mu.Unlock()
	if packed(size) {
		return true, nil
	}
	_, err := k.st.Stat(ctx, chunkKey(d))
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, store.ErrNotFound):
		return true, nil
	default:
		return false, fmt.Errorf("look up chunk %s: %w", d.Short(), err)
	}
}
