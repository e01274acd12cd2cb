package tree

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree/pack"
)

// Range merging for pulls: packed chunks of one pack whose gap is at most
// rangeGap are read by one GET, up to rangeMax bytes; one request then
// serves hundreds of small files. The gap is what a prune leaves between
// live chunks; reading it costs less than another request.
const (
	rangeGap = 256 << 10
	rangeMax = 8 << 20
)

// target is one place a chunk's bytes go: a file and an offset in it.
type target struct {
	file   *dlFile
	offset int64
}

// rangeJob is one ranged GET of a pack and where each of its chunks goes.
type rangeJob struct {
	rng     pack.Range
	targets map[ID][]target
	done    int // parts already read, kept across retries
	// written holds the chunks already written to their targets, shared
	// with the jobs that get them from elsewhere (see refetch): no file
	// is written or counted twice.
	written map[ID]bool
}

// Batches of a streamed pull: the packed chunks of the files walked so far
// are planned into ranged GETs once they reach batchChunks chunks or
// batchBytes bytes, or when the walk has nothing more ready. Neighbouring
// files were packed together by the push, so a batch of a directory's
// files merges into a few GETs, while memory holds only a batch's plan,
// not the tree's.
const (
	batchChunks = 8192
	batchBytes  = 4 * rangeMax
)

// packBatch gathers the packed chunks of a run of files, with each
// chunk's targets.
type packBatch struct {
	ix      *pack.Index
	need    map[pack.ID]pack.Loc
	targets map[ID][]target
	bytes   int64
}

func newPackBatch(ix *pack.Index) *packBatch {
	return &packBatch{ix: ix, need: map[pack.ID]pack.Loc{}, targets: map[ID][]target{}}
}

// add takes the chunks of file f that its tree's index places in packs,
// and returns the rest (single objects) with their offsets in the file, or
// nil when there are none.
func (b *packBatch) add(f *dlFile, chunks []Chunk) *dlQueue {
	var rest []Chunk
	var restOff []int64
	off := int64(0)
	for _, c := range chunks {
		if l, ok := b.ix.Lookup(c.Digest); ok && l.Len == c.Size {
			if _, dup := b.need[c.Digest]; !dup {
				b.bytes += l.Len
			}
			b.need[c.Digest] = l
			b.targets[c.Digest] = append(b.targets[c.Digest], target{f, off})
		} else {
			rest = append(rest, c)
			restOff = append(restOff, off)
		}
		off += c.Size
	}
	if len(rest) == 0 {
		return nil
	}
	return &dlQueue{file: f, chunks: rest, offsets: restOff}
}

func (b *packBatch) empty() bool { return len(b.need) == 0 }

func (b *packBatch) full() bool { return len(b.need) >= batchChunks || b.bytes >= batchBytes }

// plan returns the batch's ranged GETs.
func (b *packBatch) plan() []*rangeJob {
	var jobs []*rangeJob
	for _, r := range pack.Plan(b.need, rangeGap, rangeMax) {
		jobs = append(jobs, &rangeJob{rng: r, targets: b.targets, written: map[ID]bool{}})
	}
	return jobs
}

// fetchRange reads one range of a pack and writes each chunk to its
// targets, hashing it first: a chunk is written only when it matches its
// digest. A transient failure gets the rest of the range again.
func (w *fetcher) fetchRange(ctx context.Context, j *rangeJob, log *slog.Logger, got func(int64)) error {
	pause := fetchBackoff
	for attempt := 1; ; attempt++ {
		err := w.fetchRangeOnce(ctx, j, got)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrTransient) || attempt == fetchAttempts || ctx.Err() != nil {
			return err
		}
		log.Warn("pack download failed; getting the rest again", "pack", ID(j.rng.Pack).Short(), "attempt", attempt, "error", err.Error())
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		pause *= 2
	}
}

func (w *fetcher) fetchRangeOnce(ctx context.Context, j *rangeJob, got func(int64)) (err error) {
	first := j.rng.Parts[j.done]
	packID := ID(j.rng.Pack)
	name := func(d ID) string { return j.targets[d][0].file.path }
	gctx, watchdog := w.watchStall(ctx)
	defer watchdog.stop(&err, func() string { return fmt.Sprintf("pull %s: pack %s", name(first.Digest), packID.Short()) })
	rc, err := store.GetRange(gctx, w.st, pack.Key(j.rng.Pack), j.rng.Off+first.Off, j.rng.Len-first.Off)
	if errors.Is(err, store.ErrNotFound) {
		if moved, merr := w.refetch(ctx, j, got); moved || merr != nil {
			return merr
		}
		return fmt.Errorf("pull %s: %w: %s (pack %s is missing)", name(first.Digest), ErrChunkMissing, ID(first.Digest), packID.Short())
	}
	if err != nil {
		return fmt.Errorf("pull %s: pack %s: %w", name(first.Digest), packID.Short(), err)
	}
	defer rc.Close()
	pos := first.Off
	for j.done < len(j.rng.Parts) {
		pt := j.rng.Parts[j.done]
		if _, err := io.CopyN(io.Discard, rc, pt.Off-pos); err != nil {
			return w.cut(name(pt.Digest), pt.Digest, err)
		}
		if int64(cap(w.buf)) < pt.Len {
			w.buf = make([]byte, pt.Len)
		}
		buf := w.buf[:pt.Len]
		if _, err := readPiece(rc, buf); err != nil {
			return w.cut(name(pt.Digest), pt.Digest, err)
		}
		watchdog.reset()
		if Sum(buf) != pt.Digest {
			return fmt.Errorf("pull %s: %w: chunk %s", name(pt.Digest), ErrDigestMismatch, ID(pt.Digest))
		}
		for _, t := range j.targets[pt.Digest] {
			if j.written[pt.Digest] {
				break
			}
			f, err := t.file.create()
			if err == nil {
				_, err = f.WriteAt(buf, t.offset)
			}
			if err == nil {
				err = t.file.done()
			}
			if err != nil {
				return fmt.Errorf("pull %s: %w", t.file.path, err)
			}
			got(pt.Len)
		}
		j.written[pt.Digest] = true
		pos = pt.Off + pt.Len
		j.done++
	}
	return nil
}

// cut describes a body that ended before a chunk did: the pack is shorter
// than its index says (an integrity failure), or the read failed
// (transient).
func (w *fetcher) cut(path string, d ID, err error) error {
	if err == io.EOF {
		return fmt.Errorf("pull %s: %w: chunk %s is cut short in its pack", path, ErrDigestMismatch, d)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, store.ErrTransient) {
		err = fmt.Errorf("%w: %w", store.ErrTransient, err)
	}
	return fmt.Errorf("pull %s: chunk %s: %w", path, d.Short(), err)
}

// relocator reads a tree's index again, once per pull, for the workers
// that found a pack gone: a prune that repacked it moved its chunks and
// rewrote the index after this pull read it.
type relocator struct {
	st   store.Store
	id   ID
	once sync.Once
	ix   *pack.Index
	err  error
}

func (r *relocator) index(ctx context.Context) (*pack.Index, error) {
	r.once.Do(func() { r.ix, _, r.err = loadIndex(ctx, r.st, r.id) })
	return r.ix, r.err
}

// refetch gets the rest of j from where the tree's current index places
// its chunks. It reports false when they have not moved: the pack is
// simply missing.
func (w *fetcher) refetch(ctx context.Context, j *rangeJob, got func(int64)) (bool, error) {
	if w.moved == nil {
		return false, nil
	}
	ix, err := w.moved.index(ctx)
	if err != nil {
		return false, err
	}
	need := map[pack.ID]pack.Loc{}
	for _, pt := range j.rng.Parts[j.done:] {
		l, ok := ix.Lookup(pt.Digest)
		if !ok || l.Pack == j.rng.Pack || l.Len != pt.Len {
			return false, nil
		}
		need[pt.Digest] = l
	}
	for _, r := range pack.Plan(need, rangeGap, rangeMax) {
		sub := &rangeJob{rng: r, targets: j.targets, written: j.written}
		if err := w.fetchRangeOnce(ctx, sub, got); err != nil {
			return true, err
		}
	}
	j.done = len(j.rng.Parts)
	return true, nil
}
