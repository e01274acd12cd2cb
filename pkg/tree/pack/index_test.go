package pack

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"
	"testing/iotest"
)

// legacyEncode is the map-based encoder the format was defined with,
// kept as the reference: the compact index must write the same bytes for
// the same content, so stores written before it read, and indexes it
// writes read everywhere.
func legacyEncode(ix map[ID]Loc) []byte {
	byPack := map[ID][]ID{}
	for d, l := range ix {
		byPack[l.Pack] = append(byPack[l.Pack], d)
	}
	packs := slices.Collect(maps.Keys(byPack))
	slices.SortFunc(packs, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	buf := []byte(magic)
	buf = binary.AppendUvarint(buf, uint64(len(packs)))
	for _, p := range packs {
		ds := byPack[p]
		slices.SortFunc(ds, func(a, b ID) int {
			if ix[a].Off != ix[b].Off {
				return cmpUint(ix[a].Off, ix[b].Off)
			}
			return bytes.Compare(a[:], b[:])
		})
		buf = append(buf, p[:]...)
		buf = binary.AppendUvarint(buf, uint64(len(ds)))
		for _, d := range ds {
			buf = append(buf, d[:]...)
			buf = binary.AppendUvarint(buf, uint64(ix[d].Off))
			buf = binary.AppendUvarint(buf, uint64(ix[d].Len))
		}
	}
	sum := sha256.Sum256(buf)
	return append(buf, sum[:]...)
}

// manyLocs is n chunks spread over packs of per chunks each, in offset
// order, with lengths that need one to three uvarint bytes.
func manyLocs(n, per int) map[ID]Loc {
	m := map[ID]Loc{}
	var off int64
	for i := range n {
		if i%per == 0 {
			off = 0
		}
		l := Loc{Pack: digest(fmt.Sprint("pack ", i/per)), Off: off, Len: int64(1 + i*37%70000)}
		m[digest(fmt.Sprint("chunk ", i))] = l
		off += l.Len
	}
	return m
}

func TestIndexEncodingMatchesTheFormat(t *testing.T) {
	p, q := digest("p"), digest("q")
	for _, tc := range []struct {
		name string
		locs map[ID]Loc
	}{
		{"empty", map[ID]Loc{}},
		{"one chunk", map[ID]Loc{digest("a"): {p, 0, 1}}},
		{"two packs", map[ID]Loc{digest("a"): {p, 0, 3}, digest("b"): {p, 3, 300}, digest("c"): {q, 1 << 33, 1}}},
		{"one offset twice", map[ID]Loc{digest("a"): {p, 10, 5}, digest("b"): {p, 10, 5}, digest("c"): {p, 0, 10}}},
		{"largest entry", map[ID]Loc{digest("a"): {p, 1 << 40, maxEntryLen}}},
		{"many packs", manyLocs(5000, 97)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := legacyEncode(tc.locs)
			ix := NewIndex(maps.All(tc.locs))
			if got := ix.Encode(); !bytes.Equal(got, want) {
				t.Fatalf("Encode differs from the format's reference encoding (%d bytes, want %d)", len(got), len(want))
			}
			enc := ix.Encoding()
			var streamed bytes.Buffer
			if n, err := enc.WriteTo(&streamed); err != nil || n != int64(len(want)) || enc.Size() != int64(len(want)) || !bytes.Equal(streamed.Bytes(), want) {
				t.Fatalf("Encoding: size %d, wrote %d (%v), want the %d bytes of Encode", enc.Size(), n, err, len(want))
			}
			back, err := Decode(want)
			if err != nil {
				t.Fatal(err)
			}
			if back.Len() != len(tc.locs) {
				t.Fatalf("decoded %d chunks, want %d", back.Len(), len(tc.locs))
			}
			for d, l := range tc.locs {
				if got, ok := back.Lookup(d); !ok || got != l {
					t.Errorf("Lookup(%x) = %+v %v, want %+v", d[:4], got, ok, l)
				}
			}
			if got := back.Encode(); !bytes.Equal(got, want) {
				t.Error("decoding and encoding again changed the bytes")
			}
			n := 0
			var prev ID
			for d, l := range back.All() {
				if n > 0 && bytes.Compare(prev[:], d[:]) >= 0 {
					t.Fatalf("All is not in digest order at %x", d[:4])
				}
				if tc.locs[d] != l {
					t.Errorf("All yields %x at %+v, want %+v", d[:4], l, tc.locs[d])
				}
				prev, n = d, n+1
			}
			if n != len(tc.locs) {
				t.Errorf("All yielded %d chunks, want %d", n, len(tc.locs))
			}
		})
	}
}

// An index written by the map-based encoder, byte for byte: the format
// itself, not only agreement with the reference above.
const fixture = "6d6c73746174652d696e64657820310a02148de9c5a7a44d19e56cd9ae1a554bf67847afb0c58f6e12fa29ac7ddfca994002ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb00033e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d03ac028e35c2cd3bf6641bdb0e2050b76932cbb2e6034a0ddacc1d9bea82a6ba57f7cf012e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6808080802001425b4725b8efc9a8bcbb8efc98241190c5a7606eb9be8f401ac1dc9a07f964df"

func TestIndexFixture(t *testing.T) {
	data, _ := hex.DecodeString(fixture)
	ix, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	p, q := digest("p"), digest("q")
	want := map[ID]Loc{digest("a"): {p, 0, 3}, digest("b"): {p, 3, 300}, digest("c"): {q, 1 << 33, 1}}
	if ix.Len() != len(want) {
		t.Fatalf("%d chunks, want %d", ix.Len(), len(want))
	}
	for d, l := range want {
		if got, ok := ix.Lookup(d); !ok || got != l {
			t.Errorf("Lookup(%x) = %+v %v, want %+v", d[:4], got, ok, l)
		}
	}
	if !bytes.Equal(NewIndex(maps.All(want)).Encode(), data) {
		t.Error("Encode does not write the fixture's bytes")
	}
}

func TestIndexLookup(t *testing.T) {
	locs := manyLocs(1000, 50)
	ix := NewIndex(maps.All(locs))
	for _, tc := range []struct {
		name string
		ix   *Index
		d    ID
		want Loc
		ok   bool
	}{
		{"hit", ix, digest("chunk 7"), locs[digest("chunk 7")], true},
		{"last hit", ix, digest("chunk 999"), locs[digest("chunk 999")], true},
		{"miss", ix, digest("chunk 1000"), Loc{}, false},
		{"below every digest", ix, ID{}, Loc{}, false},
		{"above every digest", ix, ID{0: 0xff, 31: 0xff}, Loc{}, false},
		{"nil index", nil, digest("chunk 7"), Loc{}, false},
		{"empty index", &Index{}, digest("chunk 7"), Loc{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.ix.Lookup(tc.d)
			if ok != tc.ok || got != tc.want {
				t.Errorf("Lookup = %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestIndexBuilderKeepsOneLocationPerDigest(t *testing.T) {
	p, q := digest("p"), digest("q")
	var b IndexBuilder
	b.AddPack(q, []Part{{Digest: digest("a"), Off: 0, Len: 4}, {Digest: digest("b"), Off: 4, Len: 4}})
	b.Add(digest("a"), Loc{p, 8, 4})
	b.Add(digest("a"), Loc{p, 0, 4})
	ix := b.Index()
	if b.Len() != 0 {
		t.Errorf("the builder holds %d locations after Index", b.Len())
	}
	if ix.Len() != 2 {
		t.Fatalf("%d chunks, want 2", ix.Len())
	}
	// The first pack number, then the lowest offset: q was numbered first.
	if l, _ := ix.Lookup(digest("a")); l != (Loc{q, 0, 4}) {
		t.Errorf("a at %+v", l)
	}
}

func TestMergeFreshWins(t *testing.T) {
	p, q, r := digest("p"), digest("q"), digest("r")
	a, b, c, d := digest("a"), digest("b"), digest("c"), digest("d")
	for _, tc := range []struct {
		name       string
		old, fresh map[ID]Loc
		want       map[ID]Loc
	}{
		{"no parent", nil, map[ID]Loc{a: {p, 0, 1}}, map[ID]Loc{a: {p, 0, 1}}},
		{"nothing fresh", map[ID]Loc{a: {p, 0, 1}}, nil, map[ID]Loc{a: {p, 0, 1}}},
		{"disjoint", map[ID]Loc{a: {p, 0, 1}, c: {p, 1, 1}}, map[ID]Loc{b: {q, 0, 1}, d: {q, 1, 1}},
			map[ID]Loc{a: {p, 0, 1}, b: {q, 0, 1}, c: {p, 1, 1}, d: {q, 1, 1}}},
		{"fresh wins", map[ID]Loc{a: {p, 0, 1}, b: {p, 1, 2}}, map[ID]Loc{b: {q, 0, 2}},
			map[ID]Loc{a: {p, 0, 1}, b: {q, 0, 2}}},
		// Every chunk of pack p moved: p must not be written with no chunks.
		{"a pack left empty", map[ID]Loc{a: {p, 0, 1}, b: {r, 0, 1}}, map[ID]Loc{a: {q, 0, 1}},
			map[ID]Loc{a: {q, 0, 1}, b: {r, 0, 1}}},
		{"both share a pack", map[ID]Loc{a: {p, 0, 1}}, map[ID]Loc{b: {p, 1, 1}},
			map[ID]Loc{a: {p, 0, 1}, b: {p, 1, 1}}},
		{"big", manyLocs(3000, 100), manyLocs(500, 30), merged(manyLocs(3000, 100), manyLocs(500, 30))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Merge(NewIndex(maps.All(tc.old)), NewIndex(maps.All(tc.fresh)))
			if !bytes.Equal(got.Encode(), legacyEncode(tc.want)) {
				t.Errorf("merged index encodes differently from %v", tc.want)
			}
			if got.Len() != len(tc.want) {
				t.Errorf("%d chunks, want %d", got.Len(), len(tc.want))
			}
			for d, l := range tc.want {
				if g, ok := got.Lookup(d); !ok || g != l {
					t.Errorf("%x at %+v %v, want %+v", d[:4], g, ok, l)
				}
			}
		})
	}
}

func merged(old, fresh map[ID]Loc) map[ID]Loc {
	m := maps.Clone(old)
	maps.Copy(m, fresh)
	return m
}

func TestDecodeRefusesDamage(t *testing.T) {
	good := legacyEncode(manyLocs(40, 16))
	flipped := bytes.Clone(good)
	flipped[len(magic)+5] ^= 1
	badLen := []byte(magic)
	badLen = binary.AppendUvarint(badLen, 1)
	badLen = append(badLen, make([]byte, 32)...)
	badLen = binary.AppendUvarint(badLen, 1)
	badLen = append(badLen, make([]byte, 32)...)
	badLen = binary.AppendUvarint(badLen, 0)
	badLen = binary.AppendUvarint(badLen, 1<<32) // a chunk of 4 GiB
	sum := sha256.Sum256(badLen)
	badLen = append(badLen, sum[:]...)
	cases := map[string][]byte{
		"empty":          nil,
		"magic only":     []byte(magic),
		"flipped":        flipped,
		"trailing data":  append(bytes.Clone(good), 0),
		"foreign":        []byte("{\"version\":1,\"entries\":[]}................................"),
		"huge count":     append(binary.AppendUvarint([]byte(magic), 1<<62), make([]byte, 64)...),
		"impossible len": badLen,
	}
	for n := range len(good) {
		cases[fmt.Sprint("cut to ", n)] = good[:n]
	}
	for i := len(magic); i < len(good); i += 7 {
		c := bytes.Clone(good)
		c[i] ^= 0x80
		cases[fmt.Sprint("bit flipped at ", i)] = c
	}
	for name, data := range cases {
		if _, err := Decode(data); !errors.Is(err, ErrBadIndex) {
			t.Errorf("%s: Decode = %v, want ErrBadIndex", name, err)
		}
	}
}

// A failure to read is reported as it is, not as damage: the index may be
// fine, and the caller retries or stops.
func TestReadIndexReportsReadErrors(t *testing.T) {
	good := legacyEncode(manyLocs(40, 16))
	failed := errors.New("connection reset")
	for _, at := range []int{0, 10, len(good) / 2, len(good) - 1} {
		r := io.MultiReader(bytes.NewReader(good[:at]), iotest.ErrReader(failed))
		if _, err := ReadIndex(r, int64(len(good))); !errors.Is(err, failed) || errors.Is(err, ErrBadIndex) {
			t.Errorf("read failing after %d bytes: %v, want the read error", at, err)
		}
	}
}
