package catalog

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/restorepoint"
)

// Retention says which restore points of a pipeline to keep: the KeepLast
// newest, and every one created within KeepWithin before now. A restore
// point either rule keeps is kept; the rest are removed. The zero Retention
// keeps nothing, which Select refuses unless forced.
type Retention struct {
	KeepLast   int
	KeepWithin time.Duration
}

// ErrRefused: the retention would remove every restore point (or keeps
// nothing at all) and was not forced.
var ErrRefused = exitcode.With(exitcode.Usage, errors.New("prune refused"))

// IsZero reports whether r keeps nothing.
func (r Retention) IsZero() bool { return r.KeepLast <= 0 && r.KeepWithin <= 0 }

// Select splits restore point IDs (any order) into those to keep and those
// to remove, each oldest first. Times come from the IDs, which embed their
// creation time. Unless force is set it refuses a zero retention and one
// that would remove every restore point.
func Select(ids []string, r Retention, now time.Time, force bool) (keep, remove []string, err error) {
	if r.KeepLast < 0 || r.KeepWithin < 0 {
		return nil, nil, exitcode.With(exitcode.Usage, fmt.Errorf("--keep-last and --keep-within must not be negative"))
	}
	if r.IsZero() && !force {
		return nil, nil, fmt.Errorf("%w: no --keep-last or --keep-within given, which would remove every restore point; pass --force to mean it", ErrRefused)
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted) // IDs sort by time
	for i, id := range sorted {
		created, err := restorepoint.IDTime(id)
		if err != nil {
			return nil, nil, err
		}
		newest := len(sorted) - i
		if newest <= r.KeepLast || (r.KeepWithin > 0 && now.Sub(created) <= r.KeepWithin) {
			keep = append(keep, id)
		} else {
			remove = append(remove, id)
		}
	}
	if len(keep) == 0 && len(remove) > 0 && !force {
		return nil, nil, fmt.Errorf("%w: the retention (%s) would remove all %d restore points; keep more, or pass --force to mean it", ErrRefused, r, len(remove))
	}
	return keep, remove, nil
}

// String describes r as the flags that set it.
func (r Retention) String() string {
	switch {
	case r.IsZero():
		return "keep nothing"
	case r.KeepWithin <= 0:
		return fmt.Sprintf("--keep-last %d", r.KeepLast)
	case r.KeepLast <= 0:
		return fmt.Sprintf("--keep-within %s", r.KeepWithin)
	}
	return fmt.Sprintf("--keep-last %d --keep-within %s", r.KeepLast, r.KeepWithin)
}
