package tree

import (
	"context"
	"fmt"
	"testing"
)

// The packer packs each chunk once, however often it is offered, across
// the packs it seals and while its set of packed chunks grows.
func TestPackerPacksEachChunkOnce(t *testing.T) {
	old := packSize
	packSize = 4 << 10 // a pack per 64 chunks of 64 bytes
	t.Cleanup(func() { packSize = old })
	st, _ := newFileStore(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	up := newUploader(ctx, st, 2, DefaultStallTimeout, func(int) {}, cancel)
	p := newPacker(up)
	const distinct = 5000 // past the set's first sizes
	chunk := func(i int) []byte { return fmt.Appendf(make([]byte, 0, 64), "%064d", i) }
	for _, tc := range []struct {
		name      string
		from, to  int
		wantAdded bool
	}{
		{"new chunks", 0, distinct / 2, true},
		{"the same again", 0, distinct / 2, false},
		{"more new ones", distinct / 2, distinct, true},
		{"all again", 0, distinct, false},
	} {
		for i := tc.from; i < tc.to; i++ {
			data := chunk(i)
			added, err := p.add(ctx, Sum(data), data)
			if err != nil {
				t.Fatal(err)
			}
			if added != tc.wantAdded {
				t.Fatalf("%s: chunk %d added = %v, want %v", tc.name, i, added, tc.wantAdded)
			}
		}
	}
	if err := p.flush(ctx); err != nil {
		t.Fatal(err)
	}
	up.close()
	if err := context.Cause(ctx); err != nil {
		t.Fatal(err)
	}
	ix := p.index()
	if ix.Len() != distinct {
		t.Fatalf("the index places %d chunks, want %d", ix.Len(), distinct)
	}
	packs := map[ID]bool{}
	for i := range distinct {
		l, ok := ix.Lookup(Sum(chunk(i)))
		if !ok || l.Len != 64 {
			t.Fatalf("chunk %d at %+v, %v", i, l, ok)
		}
		packs[ID(l.Pack)] = true
	}
	if len(packs) < distinct*64/(4<<10) {
		t.Errorf("%d packs for %d chunks of 64 bytes in packs of 4 KiB", len(packs), distinct)
	}
}
