package testsupport

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	tests := []struct {
		name     string
		doneAt   int // the call on which check first reports done; 0: never
		timeout  time.Duration
		wantOK   bool
		wantLast string
	}{
		{name: "at once", doneAt: 1, timeout: time.Second, wantOK: true, wantLast: "call 1"},
		{name: "after a few tries", doneAt: 4, timeout: 10 * time.Second, wantOK: true, wantLast: "call 4"},
		{name: "never", doneAt: 0, timeout: 150 * time.Millisecond, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			last, ok := Poll(context.Background(), tt.timeout, func(context.Context) (bool, string) {
				calls++
				return calls == tt.doneAt, fmt.Sprintf("call %d", calls)
			})
			if ok != tt.wantOK {
				t.Fatalf("ok = %v after %d calls, want %v", ok, calls, tt.wantOK)
			}
			if tt.wantOK && last != tt.wantLast {
				t.Errorf("last = %q, want %q", last, tt.wantLast)
			}
			if !tt.wantOK && last != fmt.Sprintf("call %d", calls) {
				t.Errorf("last = %q, want the last call's description (call %d)", last, calls)
			}
		})
	}
}

func TestPollStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, ok := Poll(ctx, time.Hour, func(context.Context) (bool, string) {
		calls++
		if calls == 2 {
			cancel()
		}
		return false, "not yet"
	})
	if ok {
		t.Fatal("Poll reported done although check never was")
	}
	if calls > 3 {
		t.Errorf("check ran %d times after the context was cancelled", calls)
	}
}
