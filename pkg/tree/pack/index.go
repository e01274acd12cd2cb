package pack

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Index maps chunk digests to where they are stored.
type Index map[ID]Loc

// ErrBadIndex: an index object that does not decode or whose checksum does
// not match its bytes.
var ErrBadIndex = errors.New("invalid pack index")

// magic starts every encoded index; the digit is the format version.
const magic = "mlstate-index 1\n"

// Encode returns the canonical bytes of ix: the magic, then per pack (in
// pack ID order) the pack ID, its number of chunks and each chunk's digest,
// offset and length (in offset order, as uvarints), then the SHA-256 of
// everything before it. Binary rather than JSON: a 20,000-file tree's
// index is under a MiB and decodes in milliseconds.
func (ix Index) Encode() []byte {
	byPack := map[ID][]ID{}
	for d, l := range ix {
		byPack[l.Pack] = append(byPack[l.Pack], d)
	}
	packs := make([]ID, 0, len(byPack))
	for p := range byPack {
		packs = append(packs, p)
	}
	slices.SortFunc(packs, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	buf := make([]byte, 0, len(magic)+len(ix)*(32+8)+len(packs)*40+32)
	buf = append(buf, magic...)
	buf = binary.AppendUvarint(buf, uint64(len(packs)))
	for _, p := range packs {
		ds := byPack[p]
		slices.SortFunc(ds, func(a, b ID) int {
			if c := ix[a].Off - ix[b].Off; c != 0 {
				if c < 0 {
					return -1
				}
				return 1
			}
			return bytes.Compare(a[:], b[:])
		})
		buf = append(buf, p[:]...)
		buf = binary.AppendUvarint(buf, uint64(len(ds)))
		for _, d := range ds {
			l := ix[d]
			buf = append(buf, d[:]...)
			buf = binary.AppendUvarint(buf, uint64(l.Off))
			buf = binary.AppendUvarint(buf, uint64(l.Len))
		}
	}
	sum := sha256.Sum256(buf)
	return append(buf, sum[:]...)
}

// Decode parses index bytes, checking their checksum.
func Decode(data []byte) (Index, error) {
	bad := func(why string) (Index, error) { return nil, fmt.Errorf("%w: %s", ErrBadIndex, why) }
	if len(data) < len(magic)+sha256.Size || string(data[:len(magic)]) != magic {
		return bad("not an index of this format")
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return bad("checksum mismatch (damaged in the store)")
	}
	r := body[len(magic):]
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			return 0, false
		}
		r = r[n:]
		return v, true
	}
	id := func() (ID, bool) {
		var v ID
		if len(r) < len(v) {
			return v, false
		}
		copy(v[:], r)
		r = r[len(v):]
		return v, true
	}
	npacks, ok := uv()
	if !ok {
		return bad("truncated")
	}
	ix := Index{}
	for range npacks {
		p, ok := id()
		if !ok {
			return bad("truncated")
		}
		n, ok := uv()
		if !ok || n > uint64(len(r)) {
			return bad("truncated")
		}
		for range n {
			d, ok1 := id()
			off, ok2 := uv()
			ln, ok3 := uv()
			if !ok1 || !ok2 || !ok3 {
				return bad("truncated")
			}
			if ln == 0 || off > 1<<40 || ln > 1<<40 {
				return bad("a chunk with an impossible offset or length")
			}
			ix[d] = Loc{Pack: p, Off: int64(off), Len: int64(ln)}
		}
	}
	if len(r) != 0 {
		return bad("trailing data")
	}
	return ix, nil
}
