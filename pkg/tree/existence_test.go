package tree

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mlstate/mlstate/pkg/store"
)

// countingStore counts the requests a push makes and the objects its
// listings return, by key prefix.
type countingStore struct {
	store.Store
	mu     sync.Mutex
	lists  map[string]int // prefix -> listings
	listed int            // objects returned by all listings
	reads  int            // Get and Stat
}

func newCountingStore(st store.Store) *countingStore {
	return &countingStore{Store: st, lists: map[string]int{}}
}

func (c *countingStore) List(ctx context.Context, prefix string, fn func(store.Info) error) error {
	c.mu.Lock()
	c.lists[strings.SplitAfter(prefix, "/")[0]]++
	c.mu.Unlock()
	return c.Store.List(ctx, prefix, func(info store.Info) error {
		c.mu.Lock()
		c.listed++
		c.mu.Unlock()
		return fn(info)
	})
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.Store.Get(ctx, key)
}

func (c *countingStore) Stat(ctx context.Context, key string) (store.Info, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.Store.Stat(ctx, key)
}

// fillStore gives st many chunks: trees of packed small files and single
// chunk objects, as years of pushes would.
func fillStore(t testing.TB, st store.Store, trees, files, loose int) {
	ctx := context.Background()
	for i := range trees {
		dir := t.TempDir()
		for j := range files {
			writeFile(t, dir, fmt.Sprintf("f%05d", j), []byte(fmt.Sprint("old tree ", i, " file ", j)), 0o644, epoch)
		}
		if _, err := Push(ctx, st, dir, PushOptions{Name: fmt.Sprint("old-", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range loose {
		data := fmt.Sprint("old single chunk ", i)
		if err := st.Put(ctx, chunkKey(Sum([]byte(data))), strings.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
}

// A push never lists chunks, packs or indexes: what it learns about the
// store does not grow with the store. The same push into an empty store
// and into one holding thousands of chunks makes the same listings,
// returning the same objects, and the same lookups.
func TestPushCostIndependentOfStoreSize(t *testing.T) {
	src := t.TempDir()
	for j := range 300 {
		writeFile(t, src, fmt.Sprintf("data/f%05d", j), randBytes(int64(j), 4<<10), 0o644, epoch)
	}
	writeFile(t, src, "ckpt/model.bin", randBytes(99, 5<<20), 0o644, epoch)
	type cost struct {
		lists       map[string]int
		listed, rds int
	}
	measure := func(t *testing.T, full bool) cost {
		base, _ := newFileStore(t)
		if full {
			fillStore(t, base, 4, 300, 1000)
		}
		c := newCountingStore(base)
		push(t, c, src, PushOptions{Name: "ds"})
		// And a second push with the first as parent.
		writeFile(t, src, "data/new", []byte("one more file"), 0o644, epoch)
		push(t, c, src, PushOptions{Name: "ds"})
		if err := os.Remove(filepath.Join(src, "data/new")); err != nil {
			t.Fatal(err)
		}
		return cost{c.lists, c.listed, c.reads}
	}
	empty := measure(t, false)
	full := measure(t, true)
	for _, prefix := range []string{"chunks/", "packs/", "index/"} {
		if full.lists[prefix] != 0 {
			t.Errorf("the push listed %s %d times", prefix, full.lists[prefix])
		}
	}
	if fmt.Sprint(empty) != fmt.Sprint(full) {
		t.Errorf("pushing into a full store cost %+v, into an empty one %+v; want the same", full, empty)
	}
}
