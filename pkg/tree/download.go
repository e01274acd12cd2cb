package tree

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree/pack"
)

// dlJob is one chunk stored as a single object, or (rng set) one ranged
// read of a pack.
type dlJob struct {
	file   *dlFile
	offset int64
	chunk  Chunk
	rng    *rangeJob
}

// dlFile is a file being downloaded: created by whichever worker writes its
// first chunk (so file creation overlaps the downloads instead of preceding
// them), written at offsets by any worker, closed by whichever writes its
// last chunk.
type dlFile struct {
	path string // relative, for messages
	root string // the staging directory; the file's path is joined at open, so a million files hold no million joined paths
	once sync.Once
	f    *os.File
	err  error
	left atomic.Int64 // chunks not yet written
}

func (d *dlFile) open() (*os.File, error) {
	d.once.Do(func() {
		d.f, d.err = os.OpenFile(filepath.Join(d.root, filepath.FromSlash(d.path)), os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	})
	return d.f, d.err
}

// done closes the file after its last chunk.
func (d *dlFile) done() error {
	if d.left.Add(-1) == 0 && d.f != nil {
		return d.f.Close()
	}
	return nil
}

// closeAll closes files left open by a failed download.
func closeAll(files []*dlFile) {
	for _, d := range files {
		if d.f != nil && d.left.Load() > 0 {
			d.f.Close()
		}
	}
}

// download fetches every chunk of m's files into the files created under
// root, with Concurrency workers, each holding one piece of a chunk in memory.
// Every chunk is hashed as it is written; the first failure stops all.
func download(ctx context.Context, st store.Store, id ID, m *Manifest, ix pack.Index, root string, opts PullOptions) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan dlJob)
	var got atomic.Int64
	reindex := &relocator{st: st, id: id}
	var wg sync.WaitGroup
	for range opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newFetcher(st, opts.StallTimeout)
			w.moved = reindex
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if j.rng != nil {
					if err := w.fetchRange(ctx, j.rng, opts.Logger, func(n int64) { got.Add(n); opts.Progress.Add(n) }); err != nil {
						cancel(err)
					}
					continue
				}
				if err := w.fetch(ctx, j, opts.Logger); err != nil {
					cancel(err)
					continue
				}
				got.Add(j.chunk.Size)
				opts.Progress.Add(j.chunk.Size)
			}
		}()
	}
	var files []*dlFile
	defer func() { closeAll(files) }()
	var queues []*dlQueue
	for i := range m.Entries {
		if e := &m.Entries[i]; len(e.Chunks) > 0 {
			f := &dlFile{path: e.Path, root: root}
			f.left.Store(int64(len(e.Chunks)))
			files = append(files, f)
			queues = append(queues, &dlQueue{file: f, chunks: e.Chunks})
		}
	}
	ranges, loose := packedJobs(queues, ix)
	// Packs and single objects are fetched at the same time: a tree of
	// small files and large checkpoints keeps both kinds of request going.
	var feeders sync.WaitGroup
	feeders.Add(1)
	go func() {
		defer feeders.Done()
		for _, r := range ranges {
			select {
			case jobs <- dlJob{rng: r}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var window []*dlQueue
	next := 0 // next queue to enter the window
	for {
		for len(window) < opts.Concurrency && next < len(loose) {
			window = append(window, loose[next])
			next++
		}
		if len(window) == 0 || !feedRound(ctx, jobs, &window) {
			break
		}
	}
	feeders.Wait()
	close(jobs)
	wg.Wait()
	return got.Load(), context.Cause(ctx)
}

// dlQueue is the rest of one file's chunks that are single objects, with
// their offsets in the file.
type dlQueue struct {
	file    *dlFile
	chunks  []Chunk
	offsets []int64
}

// feedRound sends one chunk of each file in the window, dropping files with
// nothing left, and reports false when ctx is done. Taking turns between up
// to Concurrency files keeps workers from queueing on one file's inode lock
// (buffered writes to a file are serialized) while a large file's chunks
// would otherwise all go to the same file at once.
func feedRound(ctx context.Context, jobs chan<- dlJob, window *[]*dlQueue) bool {
	kept := (*window)[:0]
	for _, q := range *window {
		c := q.chunks[0]
		select {
		case jobs <- dlJob{file: q.file, offset: q.offsets[0], chunk: c}:
		case <-ctx.Done():
			return false
		}
		q.chunks, q.offsets = q.chunks[1:], q.offsets[1:]
		if len(q.chunks) > 0 {
			kept = append(kept, q)
		}
	}
	*window = kept
	return true
}

// pieceSize is how much of a chunk a download worker holds at once: small
// enough that each piece is hashed and written while still in the CPU cache.
const pieceSize = 256 << 10

// fetcher is one download worker's reusable state.
type fetcher struct {
	st    store.Store
	buf   []byte
	h     hash.Hash
	stall time.Duration
	moved *relocator
}

func newFetcher(st store.Store, stall time.Duration) *fetcher {
	return &fetcher{st: st, buf: make([]byte, pieceSize), h: sha256.New(), stall: stall}
}

// fetchAttempts bounds the GETs of one chunk whose body was cut short;
// fetchBackoff is the first pause between them, doubled after each.
var (
	fetchAttempts = 4
	fetchBackoff  = 200 * time.Millisecond
)

// fetch streams one chunk into its file, getting it again (from the start,
// written at the same offsets) when the store reports a transient failure:
// a connection dropped mid-body is not corruption. Only a complete body
// that does not hash to its digest, or that is longer or shorter than
// recorded, is an integrity failure.
func (w *fetcher) fetch(ctx context.Context, j dlJob, log *slog.Logger) error {
	pause := fetchBackoff
	for attempt := 1; ; attempt++ {
		err := w.fetchOnce(ctx, j)
		if err == nil {
			if err := j.file.done(); err != nil {
				return fmt.Errorf("pull %s: %w", j.file.path, err)
			}
			return nil
		}
		if !errors.Is(err, store.ErrTransient) || attempt == fetchAttempts || ctx.Err() != nil {
			return err
		}
		log.Warn("chunk download failed; getting it again", "path", j.file.path, "chunk", j.chunk.Digest.Short(), "attempt", attempt, "error", err.Error())
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		pause *= 2
	}
}

// fetchOnce streams one chunk into its file piece by piece, hashing as it
// goes. Writing before the digest is checked is safe: the bytes land in the
// staging directory, and a mismatch fails the pull, which removes it.
func (w *fetcher) fetchOnce(ctx context.Context, j dlJob) (err error) {
	path := j.file.path
	// A body that stops arriving (a stalled connection, a frozen server)
	// would block forever: the watchdog ends the GET when no piece arrived
	// for the stall timeout, and that counts as transient.
	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stalled := fmt.Errorf("%w: no data for %s", store.ErrTransient, w.stall)
	watchdog := time.AfterFunc(w.stall, func() { cancel(stalled) })
	defer watchdog.Stop()
	defer func() {
		if err != nil && ctx.Err() == nil && errors.Is(context.Cause(gctx), stalled) {
			err = fmt.Errorf("pull %s: chunk %s: %w", path, j.chunk.Digest.Short(), stalled)
		}
	}()
	rc, err := w.st.Get(gctx, chunkKey(j.chunk.Digest))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("pull %s: %w: %s", path, ErrChunkMissing, j.chunk.Digest)
	}
	if err != nil {
		return fmt.Errorf("pull %s: chunk %s: %w", path, j.chunk.Digest.Short(), err)
	}
	defer rc.Close()
	f, err := j.file.open()
	if err != nil {
		return fmt.Errorf("pull %s: %w", path, err)
	}
	w.h.Reset()
	off, end := j.offset, j.offset+j.chunk.Size
	for off < end {
		n, err := readPiece(rc, w.buf[:min(int64(len(w.buf)), end-off)])
		if err == io.EOF {
			// The store's body ended cleanly: the object is shorter than recorded.
			return fmt.Errorf("pull %s: %w: chunk %s has the wrong size", path, ErrDigestMismatch, j.chunk.Digest)
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, store.ErrTransient) {
				err = fmt.Errorf("%w: %w", store.ErrTransient, err)
			}
			return fmt.Errorf("pull %s: chunk %s cut short after %d of %d bytes: %w", path, j.chunk.Digest.Short(), off-j.offset, j.chunk.Size, err)
		}
		watchdog.Reset(w.stall)
		w.h.Write(w.buf[:n])
		if _, err := f.WriteAt(w.buf[:n], off); err != nil {
			return fmt.Errorf("pull %s: %w", path, err)
		}
		off += int64(n)
	}
	var extra [1]byte
	if n, _ := rc.Read(extra[:]); n > 0 {
		// Longer than recorded: cannot match.
		return fmt.Errorf("pull %s: %w: chunk %s has the wrong size", path, ErrDigestMismatch, j.chunk.Digest)
	}
	var got ID
	if w.h.Sum(got[:0]); got != j.chunk.Digest {
		return fmt.Errorf("pull %s: %w: chunk %s", path, ErrDigestMismatch, j.chunk.Digest)
	}
	return nil
}

// readPiece fills buf like io.ReadFull, but tells a clean end of the body
// (io.EOF, however much of buf was filled) from a read that failed (the
// reader's own error, e.g. a connection dropped mid-body).
func readPiece(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			if n == len(buf) {
				return n, nil // the last bytes came with the end
			}
			return n, io.EOF
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
