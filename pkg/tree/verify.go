package tree

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/mlstate/mlstate/pkg/store"
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
// failures to check (tree missing, store unreachable). It streams over the
// tree's documents: memory grows with the distinct chunks only (one set
// entry each), and paths are gathered, by a second walk, only for broken
// chunks.
func Verify(ctx context.Context, st store.Store, id ID) (Report, error) {
	rep := Report{ID: id}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	seen := map[ID]bool{}
	var mu sync.Mutex
	broken := map[ID]string{}
	sem := make(chan struct{}, DefaultConcurrency)
	var wg sync.WaitGroup
	err := Walk(ctx, st, id, func(e *Entry) error {
		if e.Type == TypeFile {
			rep.Files++
		}
		for _, c := range e.Chunks {
			if seen[c.Digest] {
				continue
			}
			seen[c.Digest] = true
			rep.Chunks++
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			wg.Add(1)
			go func(d ID) {
				defer func() { <-sem; wg.Done() }()
				reason, err := checkChunk(ctx, st, d)
				if err != nil {
					cancel(err)
					return
				}
				if reason != "" {
					mu.Lock()
					broken[d] = reason
					mu.Unlock()
				}
			}(c.Digest)
		}
		return nil
	})
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil {
		return rep, cause
	}
	if err != nil || len(broken) == 0 {
		return rep, err
	}
	err = Walk(ctx, st, id, func(e *Entry) error {
		for _, c := range e.Chunks {
			if reason := broken[c.Digest]; reason != "" {
				rep.Broken = append(rep.Broken, Problem{Path: e.Path, Digest: c.Digest, Reason: reason})
			}
		}
		return nil
	})
	return rep, err
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
