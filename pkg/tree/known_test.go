package tree

import (
	"context"
	"strings"
	"testing"
)

func TestKnown(t *testing.T) {
	for _, limit := range []int{1000, 2} { // one listing, and per shard
		st, _ := newFileStore(t)
		ctx := context.Background()
		var ids []ID
		for i := range 5 {
			id := Sum([]byte{byte(i)})
			ids = append(ids, id)
			if err := st.Put(ctx, chunkKey(id), strings.NewReader("x"), 1); err != nil {
				t.Fatal(err)
			}
		}
		primeLimit = limit
		k := newKnown(st)
		if err := k.prime(ctx); err != nil {
			t.Fatal(err)
		}
		primeLimit = 1000
		for _, id := range ids {
			if need, err := k.claim(ctx, id); err != nil || need {
				t.Errorf("limit %d: stored chunk %s needs upload: %v %v", limit, id.Short(), need, err)
			}
		}
		fresh := Sum([]byte("new"))
		if need, _ := k.claim(ctx, fresh); !need {
			t.Errorf("limit %d: a new chunk is not claimed", limit)
		}
		if need, _ := k.claim(ctx, fresh); need {
			t.Errorf("limit %d: a chunk is claimed twice", limit)
		}
	}
}
