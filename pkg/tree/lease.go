package tree

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// listing; Sweep could delete that one. So Sweep writes sweeps/<start ns>-<rand>
// first and completes it when done, and a push, after storing its tree and
// before naming it, fails with ErrConcurrentSweep if any sweep overlapped it.
// Sweep treats trees stored within its grace window (or after the oldest
// lease) as live, so a tree stored before that check keeps its chunks.

// leaseMargin absorbs clock skew between the pushing host and the store.
const leaseMargin = 5 * time.Minute

func randHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func takeLease(ctx context.Context, st store.Store, start time.Time, name string) (func(), error) {
	key := fmt.Sprintf("pushes/%020d-%s", start.UnixNano(), randHex())
	body, _ := json.Marshal(map[string]any{"start": start.UTC(), "name": name})
	if err := st.Put(ctx, key, strings.NewReader(string(body)), int64(len(body))); err != nil {
		return nil, fmt.Errorf("write push lease: %w", err)
	}
	return func() {
		// Removed even when ctx is cancelled; a leftover lease only delays sweeps.
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = st.Delete(c, key)
	}, nil
}

type sweepRecord struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
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

// checkNoSweep fails when a sweep was running at any time since start.
func checkNoSweep(ctx context.Context, st store.Store, start time.Time) error {
	var keys []string
	err := st.List(ctx, "sweeps/", func(info store.Info) error {
		keys = append(keys, info.Key)
		return nil
	})
	if err != nil {
		return fmt.Errorf("check for concurrent sweeps: %w", err)
	}
	for _, key := range keys {
		rec, err := readSweep(ctx, st, key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("check for concurrent sweeps: %w", err)
		}
		if rec.End.IsZero() || rec.End.After(start.Add(-leaseMargin)) {
			return fmt.Errorf("%w (started %s); the push is safe to retry", ErrConcurrentSweep, rec.Start.Format(time.RFC3339))
		}
	}
	return nil
}

func readSweep(ctx context.Context, st store.Store, key string) (sweepRecord, error) {
	var rec sweepRecord
	rc, err := st.Get(ctx, key)
	if err != nil {
		return rec, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<16))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("sweep record %s: %w", key, err)
	}
	return rec, nil
}
