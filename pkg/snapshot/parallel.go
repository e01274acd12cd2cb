package snapshot

import (
	"errors"
	"sync"
)

// parallel runs the parts of a snapshot or restore side by side and keeps
// every failure, not just the first: a Kanister failure and a staging
// failure are both worth reporting. (errgroup keeps only the first.)
type parallel struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

// Go runs f in its own goroutine; its error, if any, is kept for Wait.
func (p *parallel) Go(f func() error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		err := f()
		if err != nil {
			p.mu.Lock()
			p.errs = append(p.errs, err)
			p.mu.Unlock()
		}
	}()
}

// locked runs f under the group's lock, for gathering results.
func (p *parallel) locked(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
}

// Wait waits for every part and joins their errors.
func (p *parallel) Wait() error {
	p.wg.Wait()
	return errors.Join(p.errs...)
}
