package tree

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
)

// cuttingStore cuts the body of the first `cuts` GETs of each chunk half way,
// the way s3store reports a connection dropped mid-body.
type cuttingStore struct {
	store.Store
	cuts int
	mu   sync.Mutex
	seen map[string]int
}

func (s *cuttingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.Store.Get(ctx, key)
	if err != nil || !strings.HasPrefix(key, "chunks/") {
		return rc, err
	}
	s.mu.Lock()
	s.seen[key]++
	n := s.seen[key]
	s.mu.Unlock()
	if n > s.cuts {
		return rc, nil
	}
	info, err := s.Store.Stat(ctx, key)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return cutBody{io.LimitReader(rc, info.Size/2), rc}, nil
}

type cutBody struct {
	r io.Reader
	c io.Closer
}

func (b cutBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = fmt.Errorf("read: S3 endpoint unreachable: %w: %w", store.ErrTransient, io.ErrUnexpectedEOF)
	}
	return n, err
}
func (b cutBody) Close() error { return b.c.Close() }

func TestPullCutBody(t *testing.T) {
	base, err := storeFromDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := sampleTree(t)
	want := snapshotDir(t, src)
	res := push(t, base, src, PushOptions{})

	t.Run("retried", func(t *testing.T) {
		st := &cuttingStore{Store: base, cuts: 1, seen: map[string]int{}}
		dst := filepath.Join(t.TempDir(), "out")
		if _, err := Pull(context.Background(), st, res.ID, dst, PullOptions{KeepSetID: true}); err != nil {
			t.Fatalf("Pull with every chunk's first body cut: %v", err)
		}
		assertSameDir(t, want, snapshotDir(t, dst))
	})
	t.Run("transient, not integrity", func(t *testing.T) {
		st := &cuttingStore{Store: base, cuts: 1 << 30, seen: map[string]int{}}
		dir, before := existingTarget(t)
		_, err := Pull(context.Background(), st, res.ID, dir, PullOptions{})
		if !errors.Is(err, store.ErrTransient) || errors.Is(err, ErrDigestMismatch) {
			t.Errorf("Pull with every body cut = %v; want ErrTransient and not ErrDigestMismatch", err)
		}
		assertUntouched(t, dir, before)
	})
}

// stallingStore's first GET of each chunk sends nothing until the request
// is given up, like a connection that stalls mid-transfer.
type stallingStore struct {
	store.Store
	mu   sync.Mutex
	seen map[string]bool
}

func (s *stallingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.Store.Get(ctx, key)
	if err != nil || !strings.HasPrefix(key, "chunks/") {
		return rc, err
	}
	s.mu.Lock()
	first := !s.seen[key]
	s.seen[key] = true
	s.mu.Unlock()
	if !first {
		return rc, nil
	}
	return stalledBody{ctx, rc}, nil
}

type stalledBody struct {
	ctx context.Context
	c   io.Closer
}

func (b stalledBody) Read([]byte) (int, error) {
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}
func (b stalledBody) Close() error { return b.c.Close() }

func TestPullStalledBody(t *testing.T) {
	base, err := storeFromDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := sampleTree(t)
	want := snapshotDir(t, src)
	res := push(t, base, src, PushOptions{})
	st := &stallingStore{Store: base, seen: map[string]bool{}}
	dst := filepath.Join(t.TempDir(), "out")
	if _, err := Pull(context.Background(), st, res.ID, dst, PullOptions{StallTimeout: 100 * time.Millisecond, KeepSetID: true}); err != nil {
		t.Fatalf("Pull with every chunk's first body stalled: %v", err)
	}
	assertSameDir(t, want, snapshotDir(t, dst))
}
