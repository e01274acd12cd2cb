package tree

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// setTiming shortens the heartbeats for one test.
func setTiming(t *testing.T, lease, sweep, stale, expiry time.Duration) {
	old := []time.Duration{leaseHeartbeat, sweepHeartbeat, sweepStaleAfter, pushLeaseExpiry}
	leaseHeartbeat, sweepHeartbeat, sweepStaleAfter, pushLeaseExpiry = lease, sweep, stale, expiry
	t.Cleanup(func() {
		leaseHeartbeat, sweepHeartbeat, sweepStaleAfter, pushLeaseExpiry = old[0], old[1], old[2], old[3]
	})
}

// hookStore lets a test fail or slow down chosen calls and records them.
type hookStore struct {
	store.Store
	mu      sync.Mutex
	calls   []string
	failPut func(key string, n int) bool // n: earlier Puts of key
	puts    map[string]int
	onList  func(prefix string)
}

func newHookStore(st store.Store) *hookStore { return &hookStore{Store: st, puts: map[string]int{}} }

func (h *hookStore) note(s string) {
	h.mu.Lock()
	h.calls = append(h.calls, s)
	h.mu.Unlock()
}

func (h *hookStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	h.mu.Lock()
	n := h.puts[key]
	h.puts[key]++
	fail := h.failPut != nil && h.failPut(key, n)
	h.mu.Unlock()
	h.note("put " + key)
	if fail {
		return store.ErrTransient
	}
	return h.Store.Put(ctx, key, r, size)
}

func (h *hookStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	h.note("get " + key)
	return h.Store.Get(ctx, key)
}

func (h *hookStore) List(ctx context.Context, prefix string, fn func(store.Info) error) error {
	if h.onList != nil {
		h.onList(prefix)
	}
	return h.Store.List(ctx, prefix, fn)
}

func (h *hookStore) first(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.IndexFunc(h.calls, func(c string) bool { return strings.HasPrefix(c, prefix) })
}

// A sweep that cannot refresh its marker stops before deleting anything
// once it could be taken for dead.
func TestSweepStopsWhenMarkerStale(t *testing.T) {
	setTiming(t, leaseHeartbeat, 10*time.Millisecond, 200*time.Millisecond, pushLeaseExpiry)
	base, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "f", []byte("doomed"), 0o644, epoch)
	push(t, base, src, PushOptions{})
	h := newHookStore(base)
	h.failPut = func(key string, n int) bool { return strings.HasPrefix(key, "sweeps/") && n > 0 }
	h.onList = func(prefix string) {
		if prefix == "packs/" {
			time.Sleep(sweepStaleAfter) // a store slow enough for the marker to go stale
		}
	}
	_, err := Sweep(context.Background(), h, nil, SweepOptions{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if !errors.Is(err, ErrSweepStalled) {
		t.Fatalf("Sweep with a failing heartbeat = %v, want ErrSweepStalled", err)
	}
	n := 0
	_ = base.List(context.Background(), "packs/", func(store.Info) error { n++; return nil })
	if n != 1 {
		t.Errorf("%d packs left, want the 1 the stalled sweep must not delete", n)
	}
}

// The push's lease is written before its parent is read.
func TestLeaseBeforeParent(t *testing.T) {
	base, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "f", []byte("x"), 0o644, epoch)
	push(t, base, src, PushOptions{Name: "n"})
	h := newHookStore(base)
	push(t, h, src, PushOptions{Name: "n"})
	lease, parent := h.first("put pushes/"), h.first("get trees/")
	if lease < 0 || parent < 0 || lease > parent {
		t.Errorf("lease written at call %d, parent read at call %d; want the lease first", lease, parent)
	}
}

// The live set is asked for after the marker is written and the leases
// listed: a push that names its tree just before that is kept.
func TestSweepLiveAfterMarker(t *testing.T) {
	ctx := context.Background()
	st, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "f", []byte("named late"), 0o644, epoch)
	late := push(t, st, src, PushOptions{}).ID
	live := func(ctx context.Context) ([]ID, error) {
		if recs, err := listSweeps(ctx, st); err != nil || len(recs) != 1 {
			t.Errorf("live set asked for before the sweep's marker was written (%d records, %v)", len(recs), err)
		}
		// The push names its tree (and drops its lease) only now.
		if err := recordName(ctx, st, "late", late, time.Now()); err != nil {
			return nil, err
		}
		named, err := LatestNamed(ctx, st)
		return []ID{named["late"]}, err
	}
	later := func() time.Time { return time.Now().Add(time.Hour) }
	if _, err := Sweep(ctx, st, nil, SweepOptions{Live: live, Now: later}); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(ctx, st, late); err != nil || !rep.OK() {
		t.Errorf("tree named during the sweep lost: %+v %v", rep, err)
	}
}

// A push that runs longer than the lease expiry keeps its lease alive.
func TestLongPushKeepsLease(t *testing.T) {
	setTiming(t, 10*time.Millisecond, sweepHeartbeat, sweepStaleAfter, pushLeaseExpiry)
	ctx := context.Background()
	st, _ := newFileStore(t)
	src := t.TempDir()
	writeFile(t, src, "f", randBytes(40, 1<<10), 0o644, epoch)
	const expiry = 300 * time.Millisecond
	var sw SweepResult
	var swErr error
	testHookRead = func(string) {
		testHookRead = nil
		// Outlive the expiry, then let a sweep look at the lease.
		var created time.Time
		_ = st.List(ctx, "pushes/", func(info store.Info) error { created = info.ModTime; return nil })
		testsupport.Eventually(t, 0, "the lease refreshed past its expiry", func(ctx context.Context) (bool, string) {
			var mod time.Time
			_ = st.List(ctx, "pushes/", func(info store.Info) error { mod = info.ModTime; return nil })
			return time.Since(created) > 2*expiry && time.Since(mod) < expiry, "lease modified " + mod.String()
		})
		sw, swErr = Sweep(ctx, st, nil, SweepOptions{LeaseExpiry: expiry})
	}
	t.Cleanup(func() { testHookRead = nil })
	_, err := Push(ctx, st, src, PushOptions{})
	if swErr != nil || sw.ActivePushes != 1 {
		t.Errorf("sweep during a push longer than the lease expiry: %+v, %v; want the push active", sw, swErr)
	}
	if !errors.Is(err, ErrConcurrentSweep) {
		t.Errorf("push overlapped by a sweep = %v, want ErrConcurrentSweep", err)
	}
}

// A push whose lease could not be refreshed fails safely.
func TestPushLeaseLapsed(t *testing.T) {
	setTiming(t, 10*time.Millisecond, sweepHeartbeat, sweepStaleAfter, 100*time.Millisecond)
	base, _ := newFileStore(t)
	h := newHookStore(base)
	h.failPut = func(key string, n int) bool { return strings.HasPrefix(key, "pushes/") && n > 0 }
	src := t.TempDir()
	writeFile(t, src, "f", []byte("x"), 0o644, epoch)
	testHookRead = func(string) {
		testHookRead = nil
		time.Sleep(pushLeaseExpiry) // a push stuck longer than its lease lasts
	}
	t.Cleanup(func() { testHookRead = nil })
	if _, err := Push(context.Background(), h, src, PushOptions{Name: "n"}); !errors.Is(err, ErrConcurrentSweep) {
		t.Errorf("push with a lapsed lease = %v, want ErrConcurrentSweep", err)
	}
}

// batchStore counts multi-object deletes.
type batchStore struct {
	store.Store
	mu      sync.Mutex
	batches [][]string
	singles int
}

func (b *batchStore) DeleteMany(ctx context.Context, keys []string) error {
	b.mu.Lock()
	b.batches = append(b.batches, slices.Clone(keys))
	b.mu.Unlock()
	for _, k := range keys {
		if err := b.Store.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (b *batchStore) Delete(ctx context.Context, key string) error {
	b.mu.Lock()
	b.singles++
	b.mu.Unlock()
	return b.Store.Delete(ctx, key)
}

func TestSweepDeletesInBatches(t *testing.T) {
	base, _ := newFileStore(t)
	for i, name := range []string{"a", "b", "c"} {
		src := t.TempDir()
		writeFile(t, src, name, randBytes(int64(50+i), 100), 0o644, epoch)
		push(t, base, src, PushOptions{}) // a pack each
	}
	st := &batchStore{Store: base}
	res, err := Sweep(context.Background(), st, nil, SweepOptions{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if err != nil || res.PacksDeleted != 3 || res.TreesDeleted != 3 {
		t.Fatalf("Sweep = %+v, %v", res, err)
	}
	packBatches := 0
	for _, b := range st.batches {
		if strings.HasPrefix(b[0], "packs/") {
			packBatches++
			if len(b) != 3 {
				t.Errorf("pack batch of %d keys, want all 3", len(b))
			}
		}
	}
	if packBatches != 1 {
		t.Errorf("%d pack delete batches, want 1 (singles: %d)", packBatches, st.singles)
	}
}
