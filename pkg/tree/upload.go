package tree

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/mlstate/mlstate/pkg/store"
)

// uploadBudget bounds the bytes of chunks queued or being uploaded, and so
// a push's memory, whatever the file sizes.
const uploadBudget = 64 << 20

// uploader puts chunks with a fixed number of workers.
type uploader struct {
	st     store.Store
	budget *budget
	queue  chan upJob
	wg     sync.WaitGroup
	done   func(n int)
	cancel context.CancelCauseFunc
}

type upJob struct {
	d   ID
	buf []byte
}

func newUploader(ctx context.Context, st store.Store, workers int, done func(int), cancel context.CancelCauseFunc) *uploader {
	u := &uploader{st: st, budget: newBudget(uploadBudget), queue: make(chan upJob, workers), done: done, cancel: cancel}
	for range workers {
		u.wg.Add(1)
		go u.work(ctx)
	}
	return u
}

// send queues data; unless owned (the caller will not touch it again), a
// copy, since the chunker reuses its buffer.
func (u *uploader) send(ctx context.Context, d ID, data []byte, owned bool) error {
	if err := u.budget.acquire(ctx, int64(len(data))); err != nil {
		return context.Cause(ctx)
	}
	// An exact-size copy: pooling max-size buffers would hold 8 MiB for
	// every 2 MiB chunk in flight.
	buf := data
	if !owned {
		buf = append([]byte(nil), data...)
	}
	select {
	case u.queue <- upJob{d, buf}:
		return nil
	case <-ctx.Done():
		u.budget.release(int64(len(data)))
		return context.Cause(ctx)
	}
}

func (u *uploader) work(ctx context.Context) {
	defer u.wg.Done()
	for j := range u.queue {
		if ctx.Err() != nil {
			continue // drain after a failure
		}
		data := j.buf
		err := u.st.Put(ctx, chunkKey(j.d), bytes.NewReader(data), int64(len(data)))
		if err != nil {
			u.cancel(fmt.Errorf("upload chunk %s: %w", j.d.Short(), err))
		} else {
			u.done(len(data))
		}
		u.budget.release(int64(len(data)))
	}
}

// close waits for queued uploads to finish.
func (u *uploader) close() {
	close(u.queue)
	u.wg.Wait()
}
