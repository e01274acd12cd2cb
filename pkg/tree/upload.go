package tree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
)

// uploadBudget bounds the bytes of chunks queued or being uploaded, and so
// a push's memory, whatever the file sizes.
const uploadBudget = 64 << 20

// uploader puts chunks with a fixed number of workers.
type uploader struct {
	stall  time.Duration
	st     store.Store
	budget *budget
	queue  chan upJob
	wg     sync.WaitGroup
	done   func(n int)
	cancel context.CancelCauseFunc
}

type upJob struct {
	key   string
	label string // for messages: "chunk 1a2b…", "pack 3c4d…"
	buf   []byte
}

func newUploader(ctx context.Context, st store.Store, workers int, stall time.Duration, done func(int), cancel context.CancelCauseFunc) *uploader {
	u := &uploader{stall: stall, st: st, budget: newBudget(uploadBudget), queue: make(chan upJob, workers), done: done, cancel: cancel}
	for range workers {
		u.wg.Add(1)
		go u.work(ctx)
	}
	return u
}

// send queues data for key; unless owned (the caller will not touch it
// again), a copy, since the chunker reuses its buffer.
func (u *uploader) send(ctx context.Context, key, label string, data []byte, owned bool) error {
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
	case u.queue <- upJob{key, label, buf}:
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
		err := u.put(ctx, j.key, j.label, data)
		if err != nil {
			u.cancel(fmt.Errorf("upload %s: %w", j.label, err))
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

// minUploadRate is the slowest transfer an upload is allowed before it
// counts as stalled: its deadline is the stall timeout plus its size at
// this rate.
const minUploadRate = 256 << 10 // bytes per second

// put uploads one chunk or pack, giving each attempt a deadline so that a stalled
// connection (a server that stops reading or answering) cannot hold the
// push forever, and trying again, up to fetchAttempts times, when the
// attempt stalled or the store reports a transient failure. Chunk and pack
// PUTs are idempotent: their keys are their content's digest.
func (u *uploader) put(ctx context.Context, key, label string, data []byte) error {
	limit := u.stall + time.Duration(int64(len(data))*int64(time.Second)/minUploadRate)
	pause := fetchBackoff
	for attempt := 1; ; attempt++ {
		stalled := fmt.Errorf("%w: upload of %s made no progress for %s", store.ErrTransient, label, limit)
		c, cancel := context.WithTimeoutCause(ctx, limit, stalled)
		err := u.st.Put(c, key, bytes.NewReader(data), int64(len(data)))
		if err != nil && ctx.Err() == nil && errors.Is(context.Cause(c), stalled) {
			err = stalled
		}
		cancel()
		if err == nil || !errors.Is(err, store.ErrTransient) || attempt == fetchAttempts || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		pause *= 2
	}
}
