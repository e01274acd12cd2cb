package tree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree/pack"
)

// Counter receives progress: the total once it is known, then increments.
// pkg/progress implements it. Implementations must be safe for concurrent use.
type Counter interface {
	SetTotal(n int64)
	Add(n int64)
}

// PushOptions tune Push. The zero value pushes without a parent, with
// DefaultConcurrency workers, silently.
type PushOptions struct {
	// Name records the tree under a name; when Parent is zero, the last tree
	// pushed under Name is the parent.
	Name string
	// Parent is the tree to compare with: files whose path, size and mtime
	// match it are not read again.
	Parent ID
	// Rehash reads every file even when it matches the parent.
	Rehash bool
	// CrossMounts includes volumes mounted below the directory; by default
	// the push stays on the directory's file system and warns about them.
	CrossMounts bool
	// Concurrency is the number of files read and of chunks uploaded at once;
	// 0 means DefaultConcurrency.
	Concurrency int
	// Logger receives warnings (skipped special files, retries); nil discards.
	Logger *slog.Logger
	// Progress receives the bytes to read and read so far; nil reports nothing.
	Progress Counter
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// StallTimeout gives up an upload that made no progress for this long
	// (plus its size at 256 KiB/s) and sends the chunk again; 0 means
	// DefaultStallTimeout.
	StallTimeout time.Duration
}

// DefaultConcurrency is the number of parallel reads and uploads.
const DefaultConcurrency = 8

// PushResult describes a pushed tree.
type PushResult struct {
	ID             ID    `json:"tree"`
	Parent         ID    `json:"parent"` // zero without a parent
	Files          int64 `json:"files"`
	Bytes          int64 `json:"bytes"`
	BytesRead      int64 `json:"bytes-read"`
	BytesUploaded  int64 `json:"bytes-uploaded"`
	ChunksUploaded int64 `json:"chunks-uploaded"`
	FilesReused    int64 `json:"files-reused"` // matched the parent and were not read
	Skipped        int64 `json:"skipped"`      // special files left out
}

func (o *PushOptions) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = nopCounter{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
}

type nopCounter struct{}

func (nopCounter) SetTotal(int64) {}
func (nopCounter) Add(int64)      {}

// Push snapshots dir into st and returns the new tree's ID. Only chunks the
// store lacks are uploaded. A file that keeps changing while it is read
// fails the push (ErrFileChanged); nothing torn is ever recorded.
func Push(ctx context.Context, st store.Store, dir string, opts PushOptions) (PushResult, error) {
	opts.defaults()
	var res PushResult
	if opts.Name != "" {
		if err := CheckName(opts.Name); err != nil {
			return res, err
		}
	}
	if err := recoverSwitch(dir, opts.Logger); err != nil {
		return res, err
	}
	dir, err := resolveRoot(dir, opts.Logger)
	if err != nil {
		return res, err
	}
	// A pull killed half way through switching a mount point is finished
	// first, so the push never snapshots a half-switched directory.
	if err := recoverJournals(dir, opts.Logger); err != nil {
		return res, err
	}
	entries, skipped, err := scan(ctx, dir, opts.Logger, opts.CrossMounts)
	if err != nil {
		return res, err
	}
	res.Skipped = int64(skipped)
	// The lease comes before the parent is read or chunks are looked up: a
	// sweep that starts later keeps what they name, and one that was
	// already running is caught by checkNoSweep.
	lease, err := takeLease(ctx, st, opts.Now(), opts.Name)
	if err != nil {
		return res, err
	}
	defer lease.release()
	parent, parentIdx, err := resolveParent(ctx, st, opts)
	if err != nil {
		return res, err
	}

	p := &pusher{st: st, dir: dir, opts: opts, known: newKnown(st), res: &res}
	if parent != nil {
		p.racyAfter = racyCutoff(ctx, st, Sum(mustEncode(parent)))
	}
	todo := p.plan(entries, parent)
	if err := p.run(ctx, entries, todo); err != nil {
		return res, err
	}
	m := &Manifest{Version: ManifestVersion, Entries: entries}
	data, err := encodeChecked(m)
	if err != nil {
		return res, err
	}
	res.ID = Sum(data)
	// The index goes after every pack it names (run waited for them) and
	// before the tree: a stored tree's chunks can always be found. A tree
	// identical to its parent (a no-op push) has its index already.
	if res.ID != res.Parent {
		if err := storeIndex(ctx, st, res.ID, treeIndex(m, p.fresh, parentIdx)); err != nil {
			return res, err
		}
	}
	if err := st.Put(ctx, treeKey(res.ID), bytes.NewReader(data), int64(len(data))); err != nil {
		return res, fmt.Errorf("store tree %s: %w", res.ID.Short(), err)
	}
	if err := checkNoSweep(ctx, st, lease); err != nil {
		return res, err
	}
	if opts.Name != "" {
		if err := recordName(ctx, st, opts.Name, res.ID, opts.Now()); err != nil {
			return res, err
		}
	}
	res.Files, res.Bytes = m.Files()
	return res, nil
}

// resolveParent loads the parent tree and its pack index (where the
// chunks the new tree reuses are).
func resolveParent(ctx context.Context, st store.Store, opts PushOptions) (*Manifest, pack.Index, error) {
	id := opts.Parent
	if id.IsZero() && opts.Name != "" {
		last, ok, err := LastByName(ctx, st, opts.Name)
		if err != nil || !ok {
			return nil, nil, err
		}
		id = last
	}
	if id.IsZero() {
		return nil, nil, nil
	}
	m, err := Load(ctx, st, id)
	if errors.Is(err, ErrTreeNotFound) || errors.Is(err, ErrInvalidManifest) || errors.Is(err, ErrDigestMismatch) {
		// The parent only saves reading files: without it every file is
		// read, and the new tree is as good. Failing here would fail every
		// later push of the pipeline.
		opts.Logger.Warn("the parent tree is missing or damaged; reading every file (a full push)", "parent", id.String(), "error", err.Error())
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load parent tree: %w", err)
	}
	ix, _, err := loadIndex(ctx, st, id)
	if errors.Is(err, pack.ErrBadIndex) {
		// Without its index the parent's packed chunks cannot be named:
		// store them again rather than record a tree that cannot be read.
		opts.Logger.Warn("the parent tree's pack index is damaged; reading every file (a full push)", "parent", id.String(), "error", err.Error())
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return m, ix, nil
}

type pusher struct {
	// racyAfter: parent entries with an mtime at or after this (Unix ns)
	// are read again (see racyCutoff).
	racyAfter int64
	st        store.Store
	dir       string
	opts      PushOptions
	known     *known
	packer    *packer
	fresh     pack.Index // where this push packed its chunks, once all are stored
	res       *PushResult
	// chunkBytes counts the bytes uploaded; read by the result.
	uploaded, chunks, read atomic.Int64
}

// racyWindow covers file systems' timestamp granularity and the clock
// differences between the pushing host and the store.
const racyWindow = 2 * time.Second

// racyCutoff returns the mtime from which the parent's size+mtime cannot
// be trusted: a file written within a timestamp tick of the parent's scan
// can change again without its mtime moving (the "racy mtime" problem), so
// files whose recorded mtime is that close to when the parent was stored
// are read again. Without the parent's stored time, nothing is trusted.
func racyCutoff(ctx context.Context, st store.Store, parent ID) int64 {
	info, err := listOne(ctx, st, treeKey(parent))
	if err != nil {
		return math.MinInt64
	}
	return info.ModTime.Add(-racyWindow).UnixNano()
}

// plan copies chunk lists from the parent for files that match it and
// returns the indexes of the files that must be read.
func (p *pusher) plan(entries []Entry, parent *Manifest) []int {
	prev := map[string]*Entry{}
	if parent != nil {
		for i := range parent.Entries {
			e := &parent.Entries[i]
			p.known.add(e.Chunks)
			prev[e.Path] = e
		}
		p.res.Parent = Sum(mustEncode(parent))
	}
	var todo []int
	var total int64
	for i := range entries {
		e := &entries[i]
		if e.Type != TypeFile {
			continue
		}
		if pe := prev[e.Path]; pe != nil && !p.opts.Rehash && pe.Type == TypeFile && pe.Size == e.Size && pe.MTime == e.MTime && pe.MTime < p.racyAfter {
			e.Chunks = pe.Chunks
			p.res.FilesReused++
			continue
		}
		todo = append(todo, i)
		total += e.Size
	}
	p.opts.Progress.SetTotal(total)
	return todo
}

// encodeChecked encodes m and decodes the bytes again before anything is
// stored: a manifest that would not read back exactly as scanned (a name the
// encoding cannot carry, say) fails the push instead of every later pull.
func encodeChecked(m *Manifest) ([]byte, error) {
	data, err := m.Encode()
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	back, err := DecodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: it does not read back: %w", err)
	}
	if len(back.Entries) != len(m.Entries) {
		return nil, fmt.Errorf("encode manifest: %w: %d entries read back as %d", ErrInvalidManifest, len(m.Entries), len(back.Entries))
	}
	for i := range m.Entries {
		if !m.Entries[i].same(&back.Entries[i]) {
			return nil, fmt.Errorf("encode manifest: %w: %q does not read back as itself", ErrInvalidManifest, m.Entries[i].Path)
		}
	}
	return data, nil
}

func mustEncode(m *Manifest) []byte {
	b, _ := m.Encode()
	return b
}

// run reads the todo files and feeds new chunks to Concurrency uploaders.
// Files cut by a chunker have their own Concurrency/2 readers, which bounds
// the chunkers' buffers; Concurrency more read small files meanwhile, so
// the store gets both kinds of request at once. The first error cancels
// everything.
func (p *pusher) run(ctx context.Context, entries []Entry, todo []int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	up := newUploader(ctx, p.st, p.opts.Concurrency, p.opts.StallTimeout, func(n int) {
		p.uploaded.Add(int64(n))
	}, cancel)
	p.packer = newPacker(up)
	var small, large []int
	for _, i := range todo {
		if entries[i].Size > minChunk {
			large = append(large, i)
		} else {
			small = append(small, i)
		}
	}
	var wg sync.WaitGroup
	read := func(i int) {
		if err := p.readFile(ctx, &entries[i], up); err != nil {
			cancel(err)
		}
	}
	feed(ctx, &wg, small, p.opts.Concurrency, read)
	feed(ctx, &wg, large, max(1, p.opts.Concurrency/2), read)
	wg.Wait()
	if ctx.Err() == nil {
		if err := p.packer.flush(ctx); err != nil {
			cancel(err)
		}
	}
	up.close()
	p.fresh = p.packer.locs
	p.res.BytesUploaded, p.res.ChunksUploaded, p.res.BytesRead = p.uploaded.Load(), p.chunks.Load(), p.read.Load()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// feed runs fn on each of items with n workers until ctx is done.
func feed(ctx context.Context, wg *sync.WaitGroup, items []int, n int, fn func(int)) {
	jobs := make(chan int)
	for range min(n, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				fn(i)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		for _, i := range items {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// readFile chunks one file, retrying when it changes under us.
func (p *pusher) readFile(ctx context.Context, e *Entry, up *uploader) error {
	abs := filepath.Join(p.dir, filepath.FromSlash(e.Path))
	const attempts = 3
	for attempt := 1; ; attempt++ {
		err := p.chunkFile(ctx, abs, e, up)
		if err != errChanged {
			return err
		}
		if attempt == attempts {
			return fmt.Errorf("push %s: %w (%d attempts); stop writers to the directory and retry", e.Path, ErrFileChanged, attempts)
		}
		p.opts.Logger.Warn("file changed while it was read; reading it again", "path", e.Path, "attempt", attempt)
	}
}

func (p *pusher) emit(ctx context.Context, data []byte, owned bool, e *Entry, up *uploader) error {
	d := Sum(data)
	e.Chunks = append(e.Chunks, Chunk{Digest: d, Size: int64(len(data))})
	p.read.Add(int64(len(data)))
	p.opts.Progress.Add(int64(len(data)))
	need, err := p.known.claim(ctx, d, int64(len(data)))
	if err != nil || !need {
		return err
	}
	p.chunks.Add(1)
	if packed(int64(len(data))) {
		return p.packer.add(ctx, d, data)
	}
	return up.send(ctx, chunkKey(d), "chunk "+d.Short(), data, owned)
}

var _ io.Reader = (*bytes.Reader)(nil)
