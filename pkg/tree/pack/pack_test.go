package pack

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
)

func digest(s string) ID { return sha256.Sum256([]byte(s)) }

func TestIndexRoundTrip(t *testing.T) {
	b := NewBuilder(64)
	for i := range 5 {
		s := fmt.Sprint("chunk ", i)
		b.Add(digest(s), []byte(s))
	}
	id, data, ix := b.Seal()
	if id != sha256.Sum256(data) || len(ix) != 5 {
		t.Fatalf("sealed pack %x with %d chunks", id, len(ix))
	}
	for d, l := range ix {
		if got := sha256.Sum256(data[l.Off : l.Off+l.Len]); got != d {
			t.Errorf("chunk %x is not at %+v", d[:4], l)
		}
	}
	ix[digest("other")] = Loc{Pack: digest("pack 2"), Off: 1 << 33, Len: 7}
	enc := ix.Encode()
	back, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(ix) {
		t.Fatalf("decoded %d entries, want %d", len(back), len(ix))
	}
	for d, l := range ix {
		if back[d] != l {
			t.Errorf("%x: %+v, want %+v", d[:4], back[d], l)
		}
	}
	if string(Index(back).Encode()) != string(enc) {
		t.Error("encoding is not canonical")
	}
}

func TestDecodeRefusesDamage(t *testing.T) {
	ix := Index{digest("a"): {Pack: digest("p"), Off: 0, Len: 1}}
	good := ix.Encode()
	flipped := append([]byte(nil), good...)
	flipped[len(magic)+5] ^= 1
	for name, data := range map[string][]byte{
		"empty":     nil,
		"flipped":   flipped,
		"truncated": good[:len(good)-1],
		"foreign":   []byte("{\"version\":1,\"entries\":[]}................................"),
	} {
		if _, err := Decode(data); !errors.Is(err, ErrBadIndex) {
			t.Errorf("%s: Decode = %v, want ErrBadIndex", name, err)
		}
	}
}

func TestPlanMergesNeighbours(t *testing.T) {
	p, q := digest("p"), digest("q")
	locs := Index{
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
