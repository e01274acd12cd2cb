package tree

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/mlstate/mlstate/pkg/store"
)

type dlJob struct {
	path   string // relative, for messages
	abs    string
	offset int64
	chunk  Chunk
}

// download fetches every chunk of m's files into the files created under
// root, with Concurrency workers, each holding at most one chunk in memory.
// Every chunk is hashed before it is written; the first failure stops all.
func download(ctx context.Context, st store.Store, m *Manifest, root string, opts PullOptions) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan dlJob)
	var got atomic.Int64
	var wg sync.WaitGroup
	for range opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, maxChunk)
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if err := fetchChunk(ctx, st, j, &buf); err != nil {
					cancel(err)
					continue
				}
				got.Add(j.chunk.Size)
				opts.Progress.Add(j.chunk.Size)
			}
		}()
	}
feed:
	for _, e := range m.Entries {
		var off int64
		for _, c := range e.Chunks {
			j := dlJob{path: e.Path, abs: filepath.Join(root, filepath.FromSlash(e.Path)), offset: off, chunk: c}
			off += c.Size
			select {
			case jobs <- j:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	return got.Load(), context.Cause(ctx)
}

func fetchChunk(ctx context.Context, st store.Store, j dlJob, buf *[]byte) error {
	if j.chunk.Size > maxChunk && int64(cap(*buf)) < j.chunk.Size {
		// Written by another chunker configuration; still bounded by the manifest.
		*buf = make([]byte, 0, j.chunk.Size)
	}
	data := (*buf)[:j.chunk.Size]
	rc, err := st.Get(ctx, chunkKey(j.chunk.Digest))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("pull %s: %w: %s", j.path, ErrChunkMissing, j.chunk.Digest)
	}
	if err != nil {
		return fmt.Errorf("pull %s: chunk %s: %w", j.path, j.chunk.Digest.Short(), err)
	}
	_, err = io.ReadFull(rc, data)
	if err == nil {
		var extra [1]byte
		if n, _ := rc.Read(extra[:]); n > 0 {
			err = io.ErrUnexpectedEOF // longer than recorded: cannot match
		}
	}
	rc.Close()
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("pull %s: %w: chunk %s has the wrong size", j.path, ErrDigestMismatch, j.chunk.Digest)
	}
	if err != nil {
		return fmt.Errorf("pull %s: chunk %s: %w", j.path, j.chunk.Digest.Short(), err)
	}
	if Sum(data) != j.chunk.Digest {
		return fmt.Errorf("pull %s: %w: chunk %s", j.path, ErrDigestMismatch, j.chunk.Digest)
	}
	f, err := os.OpenFile(j.abs, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pull %s: %w", j.path, err)
	}
	_, err = f.WriteAt(data, j.offset)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pull %s: %w", j.path, err)
	}
	return nil
}
