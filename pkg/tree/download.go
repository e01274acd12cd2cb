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
	path   string // relative, for messages
	abs    string
	once   sync.Once
	f      *os.File
	err    error
	left   atomic.Int64 // chunks not yet written
	open   *openFiles
	finish func() error // after the last chunk: mode and mtime
}

// openFiles are the files opened and not yet complete, which a failed
// download closes; complete ones are forgotten, so memory does not grow
// with the tree.
type openFiles struct {
	mu sync.Mutex
	m  map[*dlFile]bool
}

func (d *dlFile) create() (*os.File, error) {
	d.once.Do(func() {
		d.f, d.err = os.OpenFile(d.abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
		if d.err == nil {
			d.open.mu.Lock()
			d.open.m[d] = true
			d.open.mu.Unlock()
		}
	})
	return d.f, d.err
}

// done closes the file after its last chunk and finishes it.
func (d *dlFile) done() error {
	if d.left.Add(-1) != 0 || d.f == nil {
		return nil
	}
	d.open.mu.Lock()
	delete(d.open.m, d)
	d.open.mu.Unlock()
	if err := d.f.Close(); err != nil {
		return err
	}
	return d.finish()
}

// closeAll closes files left open by a failed download.
func (o *openFiles) closeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for d := range o.m {
		d.f.Close()
	}
}

// download fetches every chunk of the files it is sent into files it
// creates under root, with Concurrency workers, each holding one piece of
// a chunk in memory, and calls finish for each file after its last chunk.
// Chunks that tree id's index ix places in packs are read by ranged GETs,
// planned over a batch of files at a time (see packBatch: until the batch
// is full, the sender sends walkPause, or it closes files); the others one
// object each. Every chunk is hashed as it is written; the first failure
// stops all. The sender closes files; download returns once all of them
// are written.
func download(ctx context.Context, st store.Store, id ID, ix *pack.Index, files <-chan *Entry, root string, opts PullOptions, finish func(*Entry, string) error) (int64, error) {
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
	open := &openFiles{m: map[*dlFile]bool{}}
	defer open.closeAll()
	// Ranged reads of packs go out from their own feeder while the loop
	// below sends single objects: a tree of small files and large
	// checkpoints keeps both kinds of request going.
	ranges := make(chan []*rangeJob, 2)
	var feeder sync.WaitGroup
	feeder.Add(1)
	go func() {
		defer feeder.Done()
		for batch := range ranges {
			for _, r := range batch {
				select {
				case jobs <- dlJob{rng: r}:
				case <-ctx.Done():
				}
			}
		}
	}()
	batch := newPackBatch(ix)
	flush := func() bool {
		if batch.empty() {
			return true
		}
		select {
		case ranges <- batch.plan():
		case <-ctx.Done():
			return false
		}
		batch = newPackBatch(ix)
		return true
	}
	var window []*dlQueue
	more := true // files may send more
fill:
	for {
	take:
		for more && len(window) < opts.Concurrency {
			var e *Entry
			var ok bool
			if len(window) == 0 {
				select { // nothing to do until the next file comes
				case e, ok = <-files:
				case <-ctx.Done():
					break fill
				}
			} else {
				select {
				case e, ok = <-files:
				default:
					break take // keep the window busy meanwhile
				}
			}
			switch {
			case !ok:
				more = false
				continue
			case e == walkPause:
				// The walk is about to read a directory's document: the
				// packed chunks gathered so far go out meanwhile.
				if !flush() {
					break fill
				}
				continue
			case len(e.Chunks) == 0:
				continue
			}
			abs := filepath.Join(root, filepath.FromSlash(e.Path))
			f := &dlFile{path: e.Path, abs: abs, open: open, finish: func() error { return finish(e, abs) }}
			f.left.Store(int64(len(e.Chunks)))
			if q := batch.add(f, e.Chunks); q != nil {
				window = append(window, q)
			}
			if batch.full() && !flush() {
				break fill
			}
		}
		if len(window) == 0 {
			if more {
				continue
			}
			break
		}
		if !feedRound(ctx, jobs, &window) {
			break
		}
	}
	flush()
	close(ranges)
	feeder.Wait()
	close(jobs)
	wg.Wait()
	return got.Load(), context.Cause(ctx)
}

// walkPause, sent among the files, says the walk is about to block on a
// read of the store: packed chunks gathered so far should not wait for it.
var walkPause = &Entry{}

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
	gctx, watchdog := w.watchStall(ctx)
	defer watchdog.stop(&err, func() string { return fmt.Sprintf("pull %s: chunk %s", path, j.chunk.Digest.Short()) })
	rc, err := w.st.Get(gctx, chunkKey(j.chunk.Digest))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("pull %s: %w: %s", path, ErrChunkMissing, j.chunk.Digest)
	}
	if err != nil {
		return fmt.Errorf("pull %s: chunk %s: %w", path, j.chunk.Digest.Short(), err)
	}
	defer rc.Close()
	f, err := j.file.create()
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
		watchdog.reset()
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

// stallWatch ends a GET whose body stops arriving (a stalled connection, a
// frozen server), which would otherwise block for ever: unless reset, it
// cancels the request after the stall timeout, and that counts as
// transient.
type stallWatch struct {
	ctx, gctx context.Context
	timer     *time.Timer
	cancel    context.CancelCauseFunc
	stalled   error
	every     time.Duration
}

// watchStall returns the context to make the request with and its watch;
// call reset as each piece arrives and stop when done.
func (w *fetcher) watchStall(ctx context.Context) (context.Context, *stallWatch) {
	gctx, cancel := context.WithCancelCause(ctx)
	s := &stallWatch{ctx: ctx, gctx: gctx, cancel: cancel, every: w.stall,
		stalled: fmt.Errorf("%w: no data for %s", store.ErrTransient, w.stall)}
	s.timer = time.AfterFunc(w.stall, func() { cancel(s.stalled) })
	return gctx, s
}

func (s *stallWatch) reset() { s.timer.Reset(s.every) }

// stop ends the watch; when it was the stall that ended the request, *err
// becomes the transient stall error, prefixed with what was read.
func (s *stallWatch) stop(err *error, what func() string) {
	s.timer.Stop()
	if *err != nil && s.ctx.Err() == nil && errors.Is(context.Cause(s.gctx), s.stalled) {
		*err = fmt.Errorf("%s: %w", what(), s.stalled)
	}
	s.cancel(nil)
}
