package tree

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
)

// Leases and sweep records let Sweep and Push run at the same time safely.
//
// A push writes pushes/<start ns>-<rand> before it uploads anything and
// deletes it when done; Sweep keeps every chunk modified after the oldest
// live lease started (minus a margin), so chunks a running push uploaded are
// never swept. A push may also rely on an old chunk that it found by
// listing; Sweep could delete that one. So Sweep writes sweeps/<id> when it
// starts and sweeps/<id>.done when it ends, and a push, after storing its
// tree and before naming it, fails with ErrConcurrentSweep if a sweep
// overlapped it. Overlap is decided with the store's own modification times
// (of the push's lease and of the .done marker), never with local clocks, so
// a push that starts a moment after a sweep ended is not refused.
// Sweep treats trees stored within its grace window (or after the oldest
// lease) as live, so a tree stored before that check keeps its chunks.

// leaseMargin absorbs clock skew between the pushing host and the store.
const leaseMargin = 5 * time.Minute

func randHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func takeLease(ctx context.Context, st store.Store, start time.Time, name string) (string, func(), error) {
	key := fmt.Sprintf("pushes/%020d-%s", start.UnixNano(), randHex())
	body, _ := json.Marshal(map[string]any{"start": start.UTC(), "name": name})
	if err := st.Put(ctx, key, strings.NewReader(string(body)), int64(len(body))); err != nil {
		return "", nil, fmt.Errorf("write push lease: %w", err)
	}
	return key, func() {
		// Removed even when ctx is cancelled; a leftover lease only delays sweeps.
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = st.Delete(c, key)
	}, nil
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

// checkNoSweep fails when a sweep ran at any time since the push's lease was
// written. A sweep without a .done marker is running, or crashed: it counts
// until the lease expiry has passed since it started.
func checkNoSweep(ctx context.Context, st store.Store, leaseKey string, expiry time.Duration) error {
	// The lease's time comes from a listing, like the sweep markers': S3
	// listings carry milliseconds, a HEAD's Last-Modified only seconds.
	var lease store.Info
	err := st.List(ctx, leaseKey, func(info store.Info) error {
		if info.Key == leaseKey {
			lease = info
		}
		return nil
	})
	if err == nil && lease.Key == "" {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("check for concurrent sweeps: read own lease: %w", err)
	}
	started := map[string]store.Info{}
	done := map[string]store.Info{}
	err = st.List(ctx, "sweeps/", func(info store.Info) error {
		if k, ok := strings.CutSuffix(info.Key, doneSuffix); ok {
			done[k] = info
		} else {
			started[info.Key] = info
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check for concurrent sweeps: %w", err)
	}
	for key, info := range started {
		end, finished := done[key]
		overlapped := finished && !end.ModTime.Before(lease.ModTime) ||
			!finished && info.ModTime.After(lease.ModTime.Add(-expiry))
		if overlapped {
			return fmt.Errorf("%w (started %s); the push is safe to retry", ErrConcurrentSweep, info.ModTime.UTC().Format(time.RFC3339))
		}
	}
	return nil
}
