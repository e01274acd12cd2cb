package tree

import (
	"context"
	"sync"
)

// budget is a counting semaphore over bytes.
type budget struct {
	mu    sync.Mutex
	cond  *sync.Cond
	free  int64
	limit int64
}

func newBudget(n int64) *budget {
	b := &budget{free: n, limit: n}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire waits until n bytes are free (a request above the limit waits for
// all of them) or ctx is done.
func (b *budget) acquire(ctx context.Context, n int64) error {
	n = min(n, b.limit)
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.cond.Broadcast()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.free < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.cond.Wait()
	}
	b.free -= n
	return nil
}

func (b *budget) release(n int64) {
	n = min(n, b.limit)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free += n
	b.cond.Broadcast()
}
