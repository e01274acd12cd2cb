package tree

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/mlstate/mlstate/pkg/store"
)

// uploader puts chunks with a fixed number of workers. Its queue is as long
// as the number of workers, so at most 2×workers chunks (each ≤ maxChunk)
// wait in memory: that bounds a push's memory whatever the file sizes.
type uploader struct {
	st     store.Store
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
	u := &uploader{st: st, queue: make(chan upJob, workers), done: done, cancel: cancel}
	for range workers {
		u.wg.Add(1)
		go u.work(ctx)
	}
	return u
}

// send queues a copy of data (the caller's buffer is reused by the chunker).
func (u *uploader) send(ctx context.Context, d ID, data []byte) error {
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
