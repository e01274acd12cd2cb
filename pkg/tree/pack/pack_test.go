package pack

import (
	"crypto/sha256"
	"fmt"
	"testing"
)

func digest(s string) ID { return sha256.Sum256([]byte(s)) }

func TestSealPlacesChunks(t *testing.T) {
	b := NewBuilder(64)
	for i := range 5 {
		s := fmt.Sprint("chunk ", i)
		b.Add(digest(s), []byte(s))
	}
	id, data, parts := b.Seal()
	if id != sha256.Sum256(data) || len(parts) != 5 {
		t.Fatalf("sealed pack %x with %d chunks", id, len(parts))
	}
	for i, pt := range parts {
		if got := sha256.Sum256(data[pt.Off : pt.Off+pt.Len]); got != pt.Digest {
			t.Errorf("chunk %x is not at %+v", pt.Digest[:4], pt)
		}
		if i > 0 && pt.Off <= parts[i-1].Off {
			t.Errorf("chunks out of offset order: %+v after %+v", pt, parts[i-1])
		}
	}
}

func TestPlanMergesNeighbours(t *testing.T) {
	p, q := digest("p"), digest("q")
	locs := map[ID]Loc{
		digest("a"): {p, 0, 10},
		digest("b"): {p, 10, 10},  // adjacent: merged
		digest("c"): {p, 25, 5},   // a 5-byte gap: merged
		digest("d"): {p, 100, 10}, // too far: new range
		digest("e"): {q, 0, 50},
		digest("f"): {q, 50, 60}, // would exceed max: new range
	}
	ranges := Plan(locs, 8, 100)
	type r struct{ off, len, parts int64 }
	got := map[ID][]r{}
	for _, rg := range ranges {
		got[rg.Pack] = append(got[rg.Pack], r{rg.Off, rg.Len, int64(len(rg.Parts))})
		for _, pt := range rg.Parts {
			if l := locs[pt.Digest]; l.Off != rg.Off+pt.Off || l.Len != pt.Len {
				t.Errorf("part %x at %d+%d, located at %+v", pt.Digest[:4], rg.Off, pt.Off, l)
			}
		}
	}
	want := map[ID][]r{p: {{0, 30, 3}, {100, 10, 1}}, q: {{0, 50, 1}, {50, 60, 1}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ranges %v, want %v", got, want)
	}
}

func TestKeys(t *testing.T) {
	d := digest("x")
	if id, ok := ParseKey(Key(d)); !ok || id != d {
		t.Errorf("ParseKey(Key) = %x %v", id, ok)
	}
	if id, ok := ParseIndexKey(IndexKey(d)); !ok || id != d {
		t.Errorf("ParseIndexKey(IndexKey) = %x %v", id, ok)
	}
	if _, ok := ParseKey("chunks/ab/" + fmt.Sprintf("%x", d)); ok {
		t.Error("a chunk key parsed as a pack key")
	}
}
