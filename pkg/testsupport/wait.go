package testsupport

import (
	"context"
	"testing"
	"time"
)

// WaitTimeout is how long Eventually waits by default. It is generous on
// purpose: CI runs cold, under -race, on 2 cores while other packages
// compile, and an RBAC grant, an Event or a controller's status write can
// take seconds to show there although it takes milliseconds on a quiet
// machine.
const WaitTimeout = 30 * time.Second

// Eventually polls check until it reports done, and fails the test with the
// last state check described when timeout passes first. Use it for every
// read of an asynchronous write's effect (RBAC grants seen by the
// authorizer, Events, watches and informers, a controller's status writes,
// listings right after a write): reading once right after the write races.
//
// check returns whether the condition holds and, when it does not, what it
// saw instead, so a failure says more than "timed out". A zero timeout means
// WaitTimeout.
func Eventually(t testing.TB, timeout time.Duration, what string, check func(ctx context.Context) (done bool, last string)) {
	t.Helper()
	if last, ok := Poll(context.Background(), timeout, check); !ok {
		t.Fatalf("waited %s for %s; last seen: %s", orDefault(timeout), what, last)
	}
}

// Poll is Eventually without the test: it returns the last state check
// described and whether the condition held before timeout (or ctx) ran out.
// Tests that must go on to report more than the wait itself use it.
func Poll(ctx context.Context, timeout time.Duration, check func(ctx context.Context) (done bool, last string)) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, orDefault(timeout))
	defer cancel()
	const (
		first = 20 * time.Millisecond
		most  = 500 * time.Millisecond
	)
	interval := first
	var last string
	for {
		done, seen := check(ctx)
		if done {
			return seen, true
		}
		last = seen
		select {
		case <-ctx.Done():
			return last, false
		case <-time.After(interval):
		}
		if interval *= 2; interval > most {
			interval = most
		}
	}
}

func orDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return WaitTimeout
	}
	return d
}
