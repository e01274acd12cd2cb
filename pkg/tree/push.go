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
	"strings"
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
	DirsUploaded   int64 `json:"dirs-uploaded"` // directory documents stored: the changed directories
	FilesReused    int64 `json:"files-reused"`  // matched the parent and were not read
	Skipped        int64 `json:"skipped"`       // special files left out
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
	rootDev, volumeRoot, err := checkRoot(dir)
	if err != nil {
		return res, err
	}
	// The lease comes before the parent is read or chunks are looked up: a
	// sweep that starts later keeps what they name, and one that was
	// already running is caught by checkNoSweep.
	lease, err := takeLease(ctx, st, opts.Now(), opts.Name)
	if err != nil {
		return res, err
	}
	defer lease.release()
	parent, err := resolveParent(ctx, st, opts)
	if err != nil {
		return res, err
	}
	newPusher := func(parent *parentTree) *pusher {
		res = PushResult{}
		p := &pusher{st: st, dir: dir, rootDev: rootDev, volumeRoot: volumeRoot, opts: opts, known: newKnown(st), res: &res, parent: parent}
		if parent != nil {
			res.Parent = parent.id
			p.racyAfter = racyCutoff(ctx, st, parent.id)
			parent.addChunks(p.known)
		}
		return p
	}
	p := newPusher(parent)
	data, err := p.pushTree(ctx)
	if err != nil {
		return res, err
	}
	// Past the walk nothing claims chunks: at a million files the set is
	// tens of MiB that the index about to be encoded can use instead.
	p.known = nil
	res.ID = Sum(data)
	// The index goes after every pack it names (pushTree waited for them)
	// and before the tree: a stored tree's chunks can always be found. A
	// tree identical to its parent (a no-op push) has its index already,
	// and never reads the parent's.
	if res.ID != res.Parent {
		ix, err := p.treeIndex(ctx)
		if errors.Is(err, pack.ErrBadIndex) {
			// Without its index the parent's packed chunks this tree
			// reuses cannot be named: store them again rather than
			// record a tree that cannot be read.
			opts.Logger.Warn("the parent tree's pack index is damaged; reading every file (a full push)", "parent", res.Parent.String(), "error", err.Error())
			p = newPusher(nil)
			if data, err = p.pushTree(ctx); err != nil {
				return res, err
			}
			res.ID = Sum(data)
			ix, err = p.treeIndex(ctx)
		}
		if err != nil {
			return res, err
		}
		if err := storeIndex(ctx, st, res.ID, ix); err != nil {
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
	return res, nil
}

// treeIndex returns the locations of the new tree's packed chunks: those
// this push packed and, for the chunks it reused, the parent's index. The
// parent's index is taken whole rather than read against every directory
// the push reused without reading: it may name chunks the new tree no
// longer holds, which costs a few bytes and nothing else (a sweep counts
// only the chunks its live trees hold, see planPacks, and drops the rest
// when it rewrites an index).
//
// Both are compact indexes sorted by digest, merged in one pass: no map of
// the tree's chunks is built, however many it has.
func (p *pusher) treeIndex(ctx context.Context) (*pack.Index, error) {
	// The packer's record becomes an index only here, past the walk, once
	// the known set is dropped: it is sorted in place, not copied.
	fresh := p.packer.index()
	if p.parent == nil {
		return fresh, nil
	}
	ix, _, err := loadIndex(ctx, p.st, p.parent.id)
	if err != nil {
		return nil, err
	}
	// Fresh wins: the parent's entry may be one it only inherited.
	return pack.Merge(ix, fresh), nil
}

// parentTree is what a push compares with: the last tree's root
// directory, whose subdirectories' documents are read only where a
// directory changed (pushdir.go).
type parentTree struct {
	id   ID
	root map[string]*Entry            // format 2: the root's entries by name
	flat map[string]map[string]*Entry // format 1: every directory's entries by name ("" is the root)
}

func resolveParent(ctx context.Context, st store.Store, opts PushOptions) (*parentTree, error) {
	id := opts.Parent
	if id.IsZero() && opts.Name != "" {
		last, ok, err := LastByName(ctx, st, opts.Name)
		if err != nil || !ok {
			return nil, err
		}
		id = last
	}
	if id.IsZero() {
		return nil, nil
	}
	flat, root, err := loadRoot(ctx, st, id)
	if errors.Is(err, ErrTreeNotFound) || errors.Is(err, ErrInvalidManifest) || errors.Is(err, ErrDigestMismatch) {
		// The parent only saves reading files: without it every file is
		// read, and the new tree is as good. Failing here would fail every
		// later push of the pipeline.
		opts.Logger.Warn("the parent tree is missing or damaged; reading every file (a full push)", "parent", id.String(), "error", err.Error())
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load parent tree: %w", err)
	}
	pt := &parentTree{id: id}
	if root != nil {
		pt.root = byName(root.Entries, "")
		return pt, nil
	}
	pt.flat = map[string]map[string]*Entry{}
	for i := range flat.Entries {
		e := &flat.Entries[i]
		dir, name := "", e.Path
		if j := strings.LastIndexByte(e.Path, '/'); j >= 0 {
			dir, name = e.Path[:j], e.Path[j+1:]
		}
		if pt.flat[dir] == nil {
			pt.flat[dir] = map[string]*Entry{}
		}
		pt.flat[dir][name] = e
	}
	return pt, nil
}

// addChunks tells k about the chunks of the parent's entries in hand.
func (pt *parentTree) addChunks(k *known) {
	for _, e := range pt.root {
		k.add(e.Chunks)
	}
	for _, dir := range pt.flat {
		for _, e := range dir {
			k.add(e.Chunks)
		}
	}
}

// byName indexes entries by their name below prefix.
func byName(entries []Entry, prefix string) map[string]*Entry {
	m := make(map[string]*Entry, len(entries))
	for i := range entries {
		m[entries[i].Path[len(prefix):]] = &entries[i]
	}
	return m
}

type pusher struct {
	// racyAfter: parent entries with an mtime at or after this (Unix ns)
	// are read again (see racyCutoff).
	racyAfter  int64
	st         store.Store
	dir        string
	rootDev    uint64
	volumeRoot bool // dir is a volume's root: its lost+found is left out
	opts       PushOptions
	known      *known
	res        *PushResult
	parent     *parentTree // nil: no parent
	// Set by pushTree for the walk.
	up      *uploader
	packer  *packer // where this push packed its chunks, once all are stored
	cancel  context.CancelCauseFunc
	dirSem  chan struct{}
	dirWG   sync.WaitGroup
	walkers chan struct{} // spare directory walkers
	mu      sync.Mutex    // guards res's counts and total while walkers run
	total   int64         // bytes to read found so far
	// Counted by the upload workers; read by the result.
	uploaded, chunks, read, dirs atomic.Int64
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
	if packed(int64(len(data))) {
		// The packer, not the known set, records the small chunks this
		// push stores: four bytes a chunk instead of a set entry, which
		// at a million files was a third of the push's memory.
		if p.known.has(d) {
			return nil
		}
		added, err := p.packer.add(ctx, d, data)
		if added {
			p.chunks.Add(1)
		}
		return err
	}
	need, err := p.known.claim(ctx, d, int64(len(data)))
	if err != nil || !need {
		return err
	}
	p.chunks.Add(1)
	return up.send(ctx, chunkKey(d), "chunk "+d.Short(), data, owned)
}

var _ io.Reader = (*bytes.Reader)(nil)
