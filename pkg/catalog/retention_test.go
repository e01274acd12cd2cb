package catalog

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/restorepoint"
)

func TestSelect(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	// Five restore points, 1, 2, 3, 4 and 5 days old.
	var ids []string
	for d := 5; d >= 1; d-- {
		ids = append(ids, restorepoint.NewID(now.Add(-time.Duration(d)*24*time.Hour)))
	}
	day := 24 * time.Hour
	cases := []struct {
		name       string
		r          Retention
		force      bool
		keep       []int // indexes into ids (0 = oldest)
		refused    bool
		emptyInput bool
	}{
		{name: "keep last 2", r: Retention{KeepLast: 2}, keep: []int{3, 4}},
		{name: "keep last more than there are", r: Retention{KeepLast: 9}, keep: []int{0, 1, 2, 3, 4}},
		{name: "keep within 2.5 days", r: Retention{KeepWithin: 60 * time.Hour}, keep: []int{3, 4}},
		{name: "keep within is inclusive", r: Retention{KeepWithin: 2 * day}, keep: []int{3, 4}},
		{name: "either rule keeps", r: Retention{KeepLast: 1, KeepWithin: 3*day + time.Hour}, keep: []int{2, 3, 4}},
		{name: "last wins over a short window", r: Retention{KeepLast: 3, KeepWithin: time.Hour}, keep: []int{2, 3, 4}},
		{name: "window that removes all is refused", r: Retention{KeepWithin: time.Hour}, refused: true},
		{name: "window that removes all, forced", r: Retention{KeepWithin: time.Hour}, force: true, keep: []int{}},
		{name: "zero retention refused", r: Retention{}, refused: true},
		{name: "zero retention forced", r: Retention{}, force: true, keep: []int{}},
		{name: "zero retention refused even when empty", r: Retention{}, refused: true, emptyInput: true},
		{name: "empty pipeline is fine", r: Retention{KeepLast: 1}, keep: []int{}, emptyInput: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := ids
			if tc.emptyInput {
				in = nil
			}
			// Input order must not matter.
			rev := make([]string, len(in))
			for i, id := range in {
				rev[len(in)-1-i] = id
			}
			keep, remove, err := Select(rev, tc.r, now, tc.force)
			if tc.refused {
				if !errors.Is(err, ErrRefused) {
					t.Fatalf("err = %v, want ErrRefused", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want, wantRemove []string
			kept := map[int]bool{}
			for _, i := range tc.keep {
				want = append(want, ids[i])
				kept[i] = true
			}
			for i, id := range in {
				if !kept[i] {
					wantRemove = append(wantRemove, id)
				}
			}
			if strings.Join(keep, ",") != strings.Join(want, ",") || strings.Join(remove, ",") != strings.Join(wantRemove, ",") {
				t.Fatalf("keep %v remove %v, want keep %v remove %v", keep, remove, want, wantRemove)
			}
		})
	}
}

func TestSelectRejectsNegative(t *testing.T) {
	if _, _, err := Select(nil, Retention{KeepLast: -1}, time.Now(), false); err == nil {
		t.Fatal("negative --keep-last accepted")
	}
}
