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
	buf *[]byte
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, maxChunk); return &b }}

func newUploader(ctx context.Context, st store.Store, workers int, done func(int), cancel context.CancelCauseFunc) *uploader {
	u := &uploader{st: st, budget: newBudget(uploadBudget), queue: make(chan upJob, workers), done: done, cancel: cancel}
	for range workers {
		u.wg.Add(1)
		go u.work(ctx)
	}
	return u
}

// send queues a copy of data (the caller's buffer is reused by the chunker).
func (u *uploader) send(ctx context.Context, d ID, data []byte) error {
	if err := u.budget.acquire(ctx, int64(len(data))); err != nil {
		return context.Cause(ctx)
	}
	var buf *[]byte
	if len(data) > minChunk {
		buf = bufPool.Get().(*[]byte)
	} else {
		b := make([]byte, 0, len(data))
		buf = &b
	}
	*buf = append((*buf)[:0], data...)
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
		data := *j.buf
		err := u.st.Put(ctx, chunkKey(j.d), bytes.NewReader(data), int64(len(data)))
		if err != nil {
			u.cancel(fmt.Errorf("upload chunk %s: %w", j.d.Short(), err))
		} else {
			u.done(len(data))
		}
		u.budget.release(int64(len(data)))
		if cap(data) == maxChunk {
			bufPool.Put(j.buf)
		}
	}
}

// close waits for queued uploads to finish.
func (u *uploader) close() {
	close(u.queue)
	u.wg.Wait()
}
