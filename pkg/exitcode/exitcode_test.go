package exitcode

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestOf(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, OK},
		{"plain", base, Failure},
		{"classified", With(Integrity, base), Integrity},
		{"wrapped classified", fmt.Errorf("pull: %w", With(Transient, base)), Transient},
		{"outermost wins", With(Usage, fmt.Errorf("x: %w", With(Transient, base))), Usage},
		{"cancelled", fmt.Errorf("wait: %w", context.Canceled), Cancelled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Of(tc.err); got != tc.want {
				t.Fatalf("Of(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestWithNil(t *testing.T) {
	t.Parallel()
	if err := With(Usage, nil); err != nil {
		t.Fatalf("With(Usage, nil) = %v, want nil", err)
	}
}
