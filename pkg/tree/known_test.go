package tree

import (
	"context"
	"strings"
	"testing"
)

func TestKnown(t *testing.T) {
	st, _ := newFileStore(t)
	ctx := context.Background()
	stored := Sum([]byte("large, stored"))
	if err := st.Put(ctx, chunkKey(stored), strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	parent := Sum([]byte("from the parent"))
	k := newKnown(st)
	k.add([]Chunk{{Digest: parent, Size: 10}})
	for _, c := range []struct {
		name string
		d    ID
		size int64
		need bool
	}{
		{"the parent's chunk", parent, 10, false},
		{"a stored large chunk", stored, maxPacked + 1, false},
		{"a new large chunk", Sum([]byte("large, new")), maxPacked + 1, true},
		{"the same large chunk again", Sum([]byte("large, new")), maxPacked + 1, false},
		{"a new small chunk", Sum([]byte("small")), 10, true},
		{"the same small chunk again", Sum([]byte("small")), 10, false},
	} {
		if need, err := k.claim(ctx, c.d, c.size); err != nil || need != c.need {
			t.Errorf("%s: claim = %v, %v; want %v", c.name, need, err, c.need)
		}
	}
}
