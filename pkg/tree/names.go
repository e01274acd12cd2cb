package tree

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckName accepts a push name: 1-128 of [A-Za-z0-9._-], starting with a
// letter or digit.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w %q: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalidName, name)
	}
	return nil
}

// recordName notes that id was pushed under name at t. Keys sort by time,
// so the last key under names/<name>/ is the latest push.
func recordName(ctx context.Context, st store.Store, name string, id ID, t time.Time) error {
	key := fmt.Sprintf("names/%s/%020d-%s", name, t.UnixNano(), id)
	if err := st.Put(ctx, key, strings.NewReader(""), 0); err != nil {
		return fmt.Errorf("record name %s: %w", name, err)
	}
	return nil
}

// NamedTree is one push recorded under a name.
type NamedTree struct {
	ID   ID
	Time time.Time
}

// History lists the trees pushed under name, oldest first. The order is
// the store's (when each name record was written), not the pushing
// hosts' clocks in the keys: a pod with a skewed clock must not make its
// push the latest forever, or hide the newer ones. Keys break ties.
func History(ctx context.Context, st store.Store, name string) ([]NamedTree, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	var out []NamedTree
	var stored []time.Time
	err := st.List(ctx, "names/"+name+"/", func(info store.Info) error {
		if nt, ok := parseNameKey(info.Key); ok {
			out = append(out, nt)
			stored = append(stored, info.ModTime)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list trees named %s: %w", name, err)
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	// Listing order is key order, so a stable sort keeps it for ties.
	sort.SliceStable(idx, func(a, b int) bool { return stored[idx[a]].Before(stored[idx[b]]) })
	sorted := make([]NamedTree, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
	}
	return sorted, nil
}

// LastByName returns the tree pushed last under name; ok is false when
// there is none.
func LastByName(ctx context.Context, st store.Store, name string) (ID, bool, error) {
	h, err := History(ctx, st, name)
	if err != nil || len(h) == 0 {
		return ID{}, false, err
	}
	return h[len(h)-1].ID, true, nil
}

func parseNameKey(key string) (NamedTree, bool) {
	ts, hexID, ok := strings.Cut(path.Base(key), "-")
	if !ok {
		return NamedTree{}, false
	}
	id, err := ParseID(hexID)
	if err != nil {
		return NamedTree{}, false
	}
	var ns int64
	if _, err := fmt.Sscanf(ts, "%d", &ns); err != nil {
		return NamedTree{}, false
	}
	return NamedTree{ID: id, Time: time.Unix(0, ns)}, true
}

// Forget deletes the records of tree id pushed under name, so that id is
// no longer the name's latest push: the next sweep frees it unless a
// restore point still refers to it, and the next push under name takes
// the latest remaining record as its parent. The tree itself stays until
// that sweep (chunks are shared; only a sweep knows what else uses them).
// It returns how many records were deleted; none is not an error.
func Forget(ctx context.Context, st store.Store, name string, id ID) (int, error) {
	if err := CheckName(name); err != nil {
		return 0, err
	}
	var keys []string
	err := st.List(ctx, "names/"+name+"/", func(info store.Info) error {
		if nt, ok := parseNameKey(info.Key); ok && nt.ID == id {
			keys = append(keys, info.Key)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("list trees named %s: %w", name, err)
	}
	if err := store.DeleteMany(ctx, st, keys); err != nil {
		return 0, fmt.Errorf("forget tree %s under name %s: %w", id.Short(), name, err)
	}
	return len(keys), nil
}
