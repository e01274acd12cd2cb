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
// failures to check (tree missing, store unreachable).
func Verify(ctx context.Context, st store.Store, id ID) (Report, error) {
	rep := Report{ID: id}
	m, err := Load(ctx, st, id)
	if err != nil {
		return rep, err
	}
	rep.Files, _ = m.Files()
	users := map[ID][]string{}
	var order []ID
	for _, e := range m.Entries {
		for _, c := range e.Chunks {
			if _, seen := users[c.Digest]; !seen {
				order = append(order, c.Digest)
			}
			users[c.Digest] = append(users[c.Digest], e.Path)
		}
	}
	rep.Chunks = int64(len(order))
	reasons := make([]string, len(order))
	var firstErr error
	var mu sync.Mutex
	sem := make(chan struct{}, DefaultConcurrency)
	var wg sync.WaitGroup
	for i, d := range order {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			reason, err := checkChunk(ctx, st, d)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			reasons[i] = reason
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return rep, firstErr
	}
	for i, d := range order {
		if reasons[i] == "" {
			continue
		}
		for _, p := range users[d] {
			rep.Broken = append(rep.Broken, Problem{Path: p, Digest: d, Reason: reasons[i]})
		}
	}
	return rep, nil
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
