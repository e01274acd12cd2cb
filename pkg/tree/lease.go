package tree

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
)

// Leases and sweep markers let Sweep and Push run at the same time safely.
// Both are kept alive by heartbeats, so nothing rests on a fixed window:
//
//   - A push writes its lease pushes/<start ns>-<rand> before it reads its
//     parent and its index or looks up chunks, rewrites it every
//     leaseHeartbeat, and deletes it when done. Sweep keeps (and never
//     repacks) every chunk, pack, index and tree modified after the oldest
//     live lease started (minus leaseMargin), so nothing a running push
//     uploaded is swept. A lease not rewritten for LeaseExpiry (store
//     time) was left by a dead push and is removed.
//   - A sweep writes its marker sweeps/<start ns>-<rand> before it lists
//     leases or computes its live set, rewrites it every sweepHeartbeat, and
//     writes <marker>.done when it ends. It deletes only while its last
//     successful rewrite is younger than sweepStaleAfter/2, and each delete
//     request must end before 3/4 of it: a sweep that cannot refresh its
//     marker stops deleting well before pushes take the marker for dead.
//   - A push may rely on an old chunk or pack it found through its parent's
//     index or a lookup; a sweep could delete or repack that one. So a push, after storing its tree and before naming
//     it, fails with ErrConcurrentSweep when a sweep overlapped it. Right
//     after writing its lease, the push lists the sweeps that have already
//     ended (.done written): those cannot touch anything it lists or reads
//     later, whatever the clocks say. Any other sweep found at the end
//     overlapped the push, unless it was already dead when the lease was
//     written: its last heartbeat plus sweepStaleAfter is before the
//     lease's first write, less clockMargin. Both times are the store's own
//     (object modification times), never a local clock; clockMargin covers
//     store nodes whose clocks differ a little.
//   - A push whose own heartbeat lapsed for LeaseExpiry/2 fails the same
//     way: a sweep may have taken its lease for dead.
var (
	leaseHeartbeat  = time.Minute
	sweepHeartbeat  = 20 * time.Second
	sweepStaleAfter = 2 * time.Minute
)

// DefaultLeaseExpiry is how long a lease may go without a heartbeat before
// a sweep takes its push for dead and removes it.
const DefaultLeaseExpiry = 10 * time.Minute

// pushLeaseExpiry is the expiry a push assumes sweeps use.
var pushLeaseExpiry = DefaultLeaseExpiry

// leaseMargin absorbs clock skew between the pushing host and the store
// (lease keys carry the pushing host's start time).
const leaseMargin = 5 * time.Minute

// clockMargin absorbs clock differences between the nodes of one store.
const clockMargin = 2 * time.Second

func randHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// lease is a running push's claim.
type lease struct {
	st      store.Store
	key     string
	body    []byte
	created time.Time // store time of the first write
	// finished holds the sweeps that had ended when the lease was written.
	finished map[string]bool

	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	lastOK  time.Time     // local clock of the last successful write
	maxGap  time.Duration // longest stretch without a successful write
	expiry  time.Duration
	stopped bool
}

func takeLease(ctx context.Context, st store.Store, start time.Time, name string) (*lease, error) {
	l := &lease{st: st, key: fmt.Sprintf("pushes/%020d-%s", start.UnixNano(), randHex()),
		stop: make(chan struct{}), done: make(chan struct{}), expiry: pushLeaseExpiry}
	l.body, _ = json.Marshal(map[string]any{"start": start.UTC(), "name": name})
	if err := l.write(ctx); err != nil {
		return nil, fmt.Errorf("write push lease: %w", err)
	}
	l.lastOK = time.Now()
	// The lease's time comes from a listing, like the sweep markers': S3
	// listings carry milliseconds, a HEAD's Last-Modified only seconds.
	info, err := listOne(ctx, st, l.key)
	if err != nil {
		l.delete()
		return nil, fmt.Errorf("read push lease: %w", err)
	}
	l.created = info.ModTime
	// Sweeps already finished now cannot touch what the push reads from
	// here on: listings see their deletions.
	recs, err := listSweeps(ctx, st)
	if err != nil {
		l.delete()
		return nil, fmt.Errorf("list sweeps: %w", err)
	}
	l.finished = map[string]bool{}
	for k, r := range recs {
		if r.done.Key != "" {
			l.finished[k] = true
		}
	}
	go l.heartbeat(ctx)
	return l, nil
}

func (l *lease) write(ctx context.Context) error {
	return l.st.Put(ctx, l.key, strings.NewReader(string(l.body)), int64(len(l.body)))
}

func (l *lease) heartbeat(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(leaseHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			c, cancel := context.WithTimeout(ctx, leaseHeartbeat)
			err := l.write(c)
			cancel()
			if err == nil {
				l.mu.Lock()
				l.maxGap = max(l.maxGap, time.Since(l.lastOK))
				l.lastOK = time.Now()
				l.mu.Unlock()
			}
		}
	}
}

// lapsed reports whether the lease went unrefreshed long enough that a
// sweep may have taken the push for dead.
func (l *lease) lapsed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.maxGap, time.Since(l.lastOK)) > l.expiry/2
}

// release stops the heartbeat and removes the lease, even when ctx is
// cancelled; a leftover lease only holds back sweeps until it expires.
func (l *lease) release() {
	l.mu.Lock()
	if !l.stopped {
		l.stopped = true
		close(l.stop)
	}
	l.mu.Unlock()
	<-l.done
	l.delete()
}

func (l *lease) delete() {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = l.st.Delete(c, l.key)
}

func listOne(ctx context.Context, st store.Store, key string) (store.Info, error) {
	var found store.Info
	err := st.List(ctx, key, func(info store.Info) error {
		if info.Key == key {
			found = info
		}
		return nil
	})
	if err == nil && found.Key == "" {
		err = fmt.Errorf("%s: %w", key, store.ErrNotFound)
	}
	return found, err
}

// keyTime parses the <ns>-… form of a lease or sweep key.
func keyTime(key string) (time.Time, bool) {
	base := key[strings.LastIndex(key, "/")+1:]
	ts, _, ok := strings.Cut(base, "-")
	if !ok {
		return time.Time{}, false
	}
	var ns int64
	if _, err := fmt.Sscanf(ts, "%d", &ns); err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

const doneSuffix = ".done"

// sweepRecord is one sweep's marker and, once it ended, its .done marker.
type sweepRecord struct {
	marker, done store.Info
}

// end is the store time after which the sweep deletes nothing more: when
// it wrote .done, or, for one that stopped refreshing its marker, the last
// refresh plus sweepStaleAfter (it stops deleting well before that).
func (r sweepRecord) end() time.Time {
	if r.done.Key != "" {
		return r.done.ModTime
	}
	return r.marker.ModTime.Add(sweepStaleAfter)
}

func listSweeps(ctx context.Context, st store.Store) (map[string]*sweepRecord, error) {
	recs := map[string]*sweepRecord{}
	get := func(k string) *sweepRecord {
		if recs[k] == nil {
			recs[k] = &sweepRecord{}
		}
		return recs[k]
	}
	err := st.List(ctx, "sweeps/", func(info store.Info) error {
		if k, ok := strings.CutSuffix(info.Key, doneSuffix); ok {
			get(k).done = info
		} else {
			get(info.Key).marker = info
		}
		return nil
	})
	return recs, err
}

// checkNoSweep fails when a sweep may have deleted something the push
// relies on: one that overlapped the push's lease, or any at all if the
// lease itself lapsed.
func checkNoSweep(ctx context.Context, st store.Store, l *lease) error {
	if l.lapsed() {
		return fmt.Errorf("%w: the push could not renew its lease for %s, so a prune may have taken it for dead; the push is safe to retry", ErrConcurrentSweep, l.expiry/2)
	}
	if _, err := listOne(ctx, st, l.key); err != nil {
		return fmt.Errorf("%w: the push's lease is gone (%v), so a prune took it for dead; the push is safe to retry", ErrConcurrentSweep, err)
	}
	recs, err := listSweeps(ctx, st)
	if err != nil {
		return fmt.Errorf("check for concurrent sweeps: %w", err)
	}
	for key, r := range recs {
		if l.finished[key] || r.marker.Key == "" && r.done.Key == "" {
			continue
		}
		// It was running when the lease was written, or started since:
		// it overlapped the push unless it was already dead then.
		if r.done.Key != "" || !r.end().Before(l.created.Add(-clockMargin)) {
			t, _ := keyTime(key)
			return fmt.Errorf("%w (started %s); the push is safe to retry", ErrConcurrentSweep, t.UTC().Format(time.RFC3339))
		}
	}
	return nil
}
