package tree

import (
	"context"
	"errors"
	"path"
	"sync"

	"github.com/mlstate/mlstate/pkg/store"
)

// known answers "is this chunk already in the store?" without one request
// per chunk: it starts from chunks known to exist (the parent tree's) and,
// for any other digest, lists that digest's shard chunks/<2 hex>/ once.
// A first push into an empty store costs at most 256 small listings.
type known struct {
	st     store.Store
	mu     sync.Mutex
	have   map[ID]bool
	shards [256]*shard
}

type shard struct {
	once sync.Once
	err  error
}

func newKnown(st store.Store) *known {
	k := &known{st: st, have: map[ID]bool{}}
	for i := range k.shards {
		k.shards[i] = &shard{}
	}
	return k
}

// add records chunks known to exist (or being uploaded).
func (k *known) add(chunks []Chunk) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range chunks {
		k.have[c.Digest] = true
	}
}

// claim reports whether d must be uploaded by the caller: false when the
// store has it or another worker already claimed it.
func (k *known) claim(ctx context.Context, d ID) (bool, error) {
	if k.check(d, false) {
		return false, nil
	}
	sh := k.shards[d[0]]
	sh.once.Do(func() { sh.err = k.load(ctx, d[0]) })
	if sh.err != nil {
		return false, sh.err
	}
	return !k.check(d, true), nil
}

func (k *known) check(d ID, mark bool) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.have[d] {
		return true
	}
	if mark {
		k.have[d] = true
	}
	return false
}

// primeLimit is how many chunk keys prime reads before it gives up: one
// listing page on S3. A variable so tests can force the per-shard path.
var primeLimit = 1000

var errTooMany = errors.New("too many chunks to list at once")

// prime lists chunks/ once when the store holds few chunks (a new store, or
// a small one): that single request then answers for all 256 shards.
func (k *known) prime(ctx context.Context) error {
	var found []Chunk
	err := k.st.List(ctx, "chunks/", func(info store.Info) error {
		if len(found) == primeLimit {
			return errTooMany
		}
		if id, err := ParseID(path.Base(info.Key)); err == nil {
			found = append(found, Chunk{Digest: id})
		}
		return nil
	})
	k.add(found)
	if errors.Is(err, errTooMany) {
		return nil // shards are listed as needed
	}
	if err != nil {
		return err
	}
	for _, sh := range k.shards {
		sh.once.Do(func() {})
	}
	return nil
}

func (k *known) load(ctx context.Context, b byte) error {
	prefix := chunkKey(ID{b})[:len("chunks/xx/")]
	var found []Chunk
	err := k.st.List(ctx, prefix, func(info store.Info) error {
		if id, err := ParseID(path.Base(info.Key)); err == nil {
			found = append(found, Chunk{Digest: id})
		}
		return nil
	})
	if err != nil {
		return err
	}
	k.add(found)
	return nil
}
