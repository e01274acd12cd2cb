package tree

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree/pack"
)

// Report lists what Verify found wrong. It is empty for a healthy tree.
type Report struct {
	ID     ID        `json:"tree"`
	Files  int64     `json:"files"`
	Chunks int64     `json:"chunks"` // distinct chunks checked
	Broken []Problem `json:"broken,omitempty"`
}

// Problem is one file whose chunk is missing or does not match its digest.
type Problem struct {
	Path   string `json:"path"`
	Digest ID     `json:"digest"`
	Reason string `json:"reason"` // "missing" or "digest mismatch"
}

// OK reports whether nothing was broken.
func (r Report) OK() bool { return len(r.Broken) == 0 }

// Err returns nil for a healthy tree, else an error matching
// ErrDigestMismatch or ErrChunkMissing that names the first broken file.
func (r Report) Err() error {
	if r.OK() {
		return nil
	}
	p := r.Broken[0]
	base := ErrDigestMismatch
	if p.Reason == "missing" {
		base = ErrChunkMissing
	}
	return fmt.Errorf("tree %s: %w: %s chunk %s (%d problems in all)", r.ID.Short(), base, p.Path, p.Digest, len(r.Broken))
}

// Verify downloads every distinct chunk of tree id and checks its digest.
// Broken chunks are reported, not returned as an error; the error is for
// failures to check (tree missing, store unreachable).
func Verify(ctx context.Context, st store.Store, id ID) (Report, error) {
	v := NewVerifier(st)
	if err := v.Add(ctx, id); err != nil {
		return Report{ID: id}, err
	}
	if err := v.Run(ctx); err != nil {
		return Report{ID: id}, err
	}
	return v.Report(ctx, id)
}

// Verifier checks many trees and reads every pack and chunk object at most
// once, however many of the trees share it: Add each tree, Run once, then
// read each tree's Report. Trees are streamed over their directory
// documents: memory holds the distinct chunks to check, not the trees.
type Verifier struct {
	st    store.Store
	trees map[ID]*verifyTree
	packs map[pack.ID]map[int64]pack.Part // pack -> offset -> chunk to check
	loose map[ID]bool
	// Results: why a packed chunk (pack, offset) or a single object is
	// broken; "" when it checked out.
	mu       sync.Mutex
	packedOK map[pack.Loc]string
	looseOK  map[ID]string
	broken   bool // some chunk was
}

// verifyTree is what Add counted of a tree; its paths are walked again
// only when something is broken.
type verifyTree struct {
	files, chunks int64
}

// NewVerifier returns a Verifier for trees in st.
func NewVerifier(st store.Store) *Verifier {
	return &Verifier{st: st, trees: map[ID]*verifyTree{}, packs: map[pack.ID]map[int64]pack.Part{},
		loose: map[ID]bool{}, packedOK: map[pack.Loc]string{}, looseOK: map[ID]string{}}
}

// Add loads tree id and its index and notes what it needs checked. Its
// error is the tree's own problem (missing, damaged) or a failure to read.
func (v *Verifier) Add(ctx context.Context, id ID) error {
	if v.trees[id] != nil {
		return nil
	}
	flat, root, err := loadRoot(ctx, v.st, id)
	if err != nil {
		return err
	}
	ix, _, err := loadIndex(ctx, v.st, id)
	if err != nil {
		return err
	}
	t := &verifyTree{}
	seen := map[ID]bool{}
	err = walkRoot(ctx, v.st, flat, root, nil, func(e *Entry) error {
		if e.Type == TypeFile {
			t.files++
		}
		for _, c := range e.Chunks {
			if seen[c.Digest] {
				continue
			}
			seen[c.Digest] = true
			t.chunks++
			if l, ok := locate(ix, c); ok {
				if v.packs[l.Pack] == nil {
					v.packs[l.Pack] = map[int64]pack.Part{}
				}
				v.packs[l.Pack][l.Off] = pack.Part{Digest: c.Digest, Off: l.Off, Len: l.Len}
			} else {
				v.loose[c.Digest] = true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	v.trees[id] = t
	return nil
}

// locate returns where a tree's index places chunk c, when it is packed.
func locate(ix *pack.Index, c Chunk) (pack.Loc, bool) {
	l, ok := ix.Lookup(c.Digest)
	return l, ok && l.Len == c.Size
}

// Run reads every pack the added trees use, start to end, once, and every
// single-object chunk once, DefaultConcurrency at a time.
func (v *Verifier) Run(ctx context.Context) error {
	var jobs []func() error
	for p, parts := range v.packs {
		jobs = append(jobs, func() error { return v.checkPack(ctx, p, parts) })
	}
	for d := range v.loose {
		if _, done := v.looseOK[d]; done {
			continue
		}
		jobs = append(jobs, func() error {
			reason, err := checkChunk(ctx, v.st, d)
			v.mu.Lock()
			v.looseOK[d] = reason
			v.broken = v.broken || reason != ""
			v.mu.Unlock()
			return err
		})
	}
	var firstErr error
	var mu sync.Mutex
	sem := make(chan struct{}, DefaultConcurrency)
	var wg sync.WaitGroup
	for _, job := range jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := job(); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	v.packs = map[pack.ID]map[int64]pack.Part{}
	return firstErr
}

// checkPack streams pack p once, hashing each listed chunk.
func (v *Verifier) checkPack(ctx context.Context, p pack.ID, parts map[int64]pack.Part) error {
	sorted := make([]pack.Part, 0, len(parts))
	for _, pt := range parts {
		sorted = append(sorted, pt)
	}
	slices.SortFunc(sorted, func(a, b pack.Part) int { return cmp.Compare(a.Off, b.Off) })
	results := make(map[pack.Loc]string, len(sorted))
	defer func() {
		v.mu.Lock()
		for l, r := range results {
			v.packedOK[l] = r
			v.broken = v.broken || r != ""
		}
		v.mu.Unlock()
	}()
	loc := func(pt pack.Part) pack.Loc { return pack.Loc{Pack: p, Off: pt.Off, Len: pt.Len} }
	rc, err := v.st.Get(ctx, pack.Key(p))
	if errors.Is(err, store.ErrNotFound) {
		for _, pt := range sorted {
			results[loc(pt)] = "missing"
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("verify pack %s: %w", ID(p).Short(), err)
	}
	defer rc.Close()
	pos := int64(0)
	h := sha256.New()
	for i, pt := range sorted {
		if _, err := io.CopyN(io.Discard, rc, pt.Off-pos); err != nil {
			return v.packCut(p, sorted[i:], results, err)
		}
		h.Reset()
		if _, err := io.CopyN(h, rc, pt.Len); err != nil {
			return v.packCut(p, sorted[i:], results, err)
		}
		pos = pt.Off + pt.Len
		if ID(h.Sum(nil)) != pt.Digest {
			results[loc(pt)] = "digest mismatch"
		} else {
			results[loc(pt)] = ""
		}
	}
	return nil
}

// packCut records the chunks after the end of a pack that is shorter than
// its index says as broken; a read that failed is an error.
func (v *Verifier) packCut(p pack.ID, rest []pack.Part, results map[pack.Loc]string, err error) error {
	if err != io.EOF {
		return fmt.Errorf("verify pack %s: %w", ID(p).Short(), err)
	}
	for _, pt := range rest {
		results[pack.Loc{Pack: p, Off: pt.Off, Len: pt.Len}] = "digest mismatch"
	}
	return nil
}

// Report returns what Run found for tree id, added before. A tree with a
// broken chunk is walked again (with its index) to name every file that
// holds one; the error is for failing to read it.
func (v *Verifier) Report(ctx context.Context, id ID) (Report, error) {
	rep := Report{ID: id}
	t := v.trees[id]
	if t == nil {
		return rep, nil
	}
	rep.Files, rep.Chunks = t.files, t.chunks
	if !v.anyBroken() {
		return rep, nil
	}
	ix, _, err := loadIndex(ctx, v.st, id)
	if err != nil {
		return rep, err
	}
	err = Walk(ctx, v.st, id, func(e *Entry) error {
		for _, c := range e.Chunks {
			if reason := v.reason(ix, c); reason != "" {
				rep.Broken = append(rep.Broken, Problem{Path: e.Path, Digest: c.Digest, Reason: reason})
			}
		}
		return nil
	})
	return rep, err
}

func (v *Verifier) anyBroken() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.broken
}

func (v *Verifier) reason(ix *pack.Index, c Chunk) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if l, ok := locate(ix, c); ok {
		return v.packedOK[l]
	}
	return v.looseOK[c.Digest]
}

func checkChunk(ctx context.Context, st store.Store, d ID) (string, error) {
	rc, err := st.Get(ctx, chunkKey(d))
	if errors.Is(err, store.ErrNotFound) {
		return "missing", nil
	}
	if err != nil {
		return "", fmt.Errorf("verify chunk %s: %w", d.Short(), err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", fmt.Errorf("verify chunk %s: %w", d.Short(), err)
	}
	if ID(h.Sum(nil)) != d {
		return "digest mismatch", nil
	}
	return "", nil
}
