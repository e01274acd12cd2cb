package pack

import (
	"bytes"
	"encoding/binary"
	"iter"
	mathbits "math/bits"
	"slices"
)

// Index maps chunk digests to where they are stored. It is held compactly
// because a tree of a million small files has a million entries: a table
// of the packs it names and one 48-byte entry per chunk, sorted by digest
// and found by binary search (a map costs three times that, and more while
// it grows). The zero value and nil are empty indexes. An Index is not
// modified after it is built, so readers may share it.
type Index struct {
	packs []ID
	ents  []entry // sorted by digest, each digest once
	// first[p] is the first entry whose digest starts with the shift-bit
	// prefix p: a lookup searches only the entries of its digest's prefix,
	// a few cache lines instead of twenty steps across the whole array.
	first []uint32
	shift uint
}

// buckets fills first, with about one prefix per entry (at most 2^16).
func (ix *Index) buckets() {
	if len(ix.ents) == 0 {
		return
	}
	bits := min(16, max(1, mathbits.Len(uint(len(ix.ents)))-1))
	ix.shift = uint(64 - bits)
	ix.first = make([]uint32, 1<<bits+1)
	p := 0
	for i := range ix.ents {
		for q := int(ix.prefix(&ix.ents[i].d)); p <= q; p++ {
			ix.first[p] = uint32(i)
		}
	}
	for ; p < len(ix.first); p++ {
		ix.first[p] = uint32(len(ix.ents))
	}
}

func (ix *Index) prefix(d *ID) uint64 { return binary.BigEndian.Uint64(d[:8]) >> ix.shift }

// entry is one chunk: len bytes at off in packs[pack]. Chunks are at most
// a few MiB, so the length fits 32 bits (Decode refuses more).
type entry struct {
	d    ID
	off  int64
	len  uint32
	pack uint32
}

// maxEntryLen is the largest chunk length an index can hold.
const maxEntryLen = 1<<32 - 1

func (e *entry) cmp(d *ID) int {
	// The first 8 bytes decide almost every comparison of digests.
	a, b := binary.BigEndian.Uint64(e.d[:8]), binary.BigEndian.Uint64(d[:8])
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return bytes.Compare(e.d[8:], d[8:])
}

// Len is the number of chunks the index places.
func (ix *Index) Len() int {
	if ix == nil {
		return 0
	}
	return len(ix.ents)
}

// Lookup returns where chunk d is.
func (ix *Index) Lookup(d ID) (Loc, bool) {
	if ix == nil {
		return Loc{}, false
	}
	ents := ix.ents
	if ix.first != nil {
		p := ix.prefix(&d)
		ents = ents[ix.first[p]:ix.first[p+1]]
	}
	i, ok := slices.BinarySearchFunc(ents, &d, func(e entry, d *ID) int { return e.cmp(d) })
	if !ok {
		return Loc{}, false
	}
	return ix.loc(&ents[i]), true
}

func (ix *Index) loc(e *entry) Loc {
	return Loc{Pack: ix.packs[e.pack], Off: e.off, Len: int64(e.len)}
}

// All yields every chunk and its location, in digest order.
func (ix *Index) All() iter.Seq2[ID, Loc] {
	return func(yield func(ID, Loc) bool) {
		if ix == nil {
			return
		}
		for i := range ix.ents {
			if !yield(ix.ents[i].d, ix.loc(&ix.ents[i])) {
				return
			}
		}
	}
}

// NewIndex returns the index of the given locations. A digest given twice
// keeps one of its locations.
func NewIndex(locs iter.Seq2[ID, Loc]) *Index {
	var b IndexBuilder
	for d, l := range locs {
		b.Add(d, l)
	}
	return b.Index()
}

// IndexBuilder collects locations, in any order, into an Index. The zero
// value is ready to use.
type IndexBuilder struct {
	ix     Index
	packNo map[ID]uint32
}

// Add records that chunk d is at l. Its length must fit an index entry:
// chunks are at most a few MiB, and Decode refuses longer ones.
func (b *IndexBuilder) Add(d ID, l Loc) {
	b.ix.ents = append(b.ix.ents, entry{d: d, off: l.Off, len: uint32(l.Len), pack: b.pack(l.Pack)})
}

// AddPack records the chunks of pack p, as Builder.Seal returns them.
func (b *IndexBuilder) AddPack(p ID, parts []Part) {
	n := b.pack(p)
	for _, pt := range parts {
		b.ix.ents = append(b.ix.ents, entry{d: pt.Digest, off: pt.Off, len: uint32(pt.Len), pack: n})
	}
}

func (b *IndexBuilder) pack(p ID) uint32 {
	if b.packNo == nil {
		b.packNo = map[ID]uint32{}
	}
	n, ok := b.packNo[p]
	if !ok {
		n = uint32(len(b.ix.packs))
		b.ix.packs = append(b.ix.packs, p)
		b.packNo[p] = n
	}
	return n
}

// Len is the number of locations added so far.
func (b *IndexBuilder) Len() int { return len(b.ix.ents) }

// Digest is the digest of the i-th location added (before Index).
func (b *IndexBuilder) Digest(i int) ID { return b.ix.ents[i].d }

// Grow makes room for n more locations without growing again.
func (b *IndexBuilder) Grow(n int) { b.ix.ents = slices.Grow(b.ix.ents, n) }

// Index sorts what was added, in place, and returns it; b is then empty.
// Of a digest added twice one location is kept (the one first in pack
// number and offset order, so the choice does not depend on the sort).
func (b *IndexBuilder) Index() *Index {
	ix := &Index{packs: b.ix.packs, ents: b.ix.ents}
	*b = IndexBuilder{}
	slices.SortFunc(ix.ents, func(x, y entry) int {
		if c := x.cmp(&y.d); c != 0 {
			return c
		}
		if x.pack != y.pack {
			return cmpUint(x.pack, y.pack)
		}
		return cmpUint(x.off, y.off)
	})
	ix.ents = slices.CompactFunc(ix.ents, func(x, y entry) bool { return x.d == y.d })
	ix.ents = slices.Clip(ix.ents)
	ix.buckets()
	return ix
}

func cmpUint[T uint32 | int64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Merge returns the index of old's chunks and fresh's, where a chunk both
// place is where fresh says: a push's own packs win over the locations
// its parent's index carried. It reads both once, in digest order, and
// builds no map of chunks; old and fresh can be dropped afterwards.
func Merge(old, fresh *Index) *Index {
	if old.Len() == 0 {
		return fresh
	}
	if fresh.Len() == 0 {
		return old
	}
	out := &Index{ents: make([]entry, 0, len(old.ents)+len(fresh.ents))}
	nums := map[ID]uint32{}
	remap := func(packs []ID) []uint32 {
		m := make([]uint32, len(packs))
		for i, p := range packs {
			n, ok := nums[p]
			if !ok {
				n = uint32(len(out.packs))
				out.packs = append(out.packs, p)
				nums[p] = n
			}
			m[i] = n
		}
		return m
	}
	oldNo, freshNo := remap(old.packs), remap(fresh.packs)
	i, j := 0, 0
	for i < len(old.ents) || j < len(fresh.ents) {
		var c int
		switch {
		case i == len(old.ents):
			c = 1
		case j == len(fresh.ents):
			c = -1
		default:
			c = old.ents[i].cmp(&fresh.ents[j].d)
		}
		if c < 0 {
			e := old.ents[i]
			e.pack = oldNo[e.pack]
			out.ents = append(out.ents, e)
			i++
			continue
		}
		if c == 0 {
			i++ // fresh wins
		}
		e := fresh.ents[j]
		e.pack = freshNo[e.pack]
		out.ents = append(out.ents, e)
		j++
	}
	out.ents = slices.Clip(out.ents)
	out.buckets()
	return out
}
