package pack

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
)

// ErrBadIndex: an index object that does not decode or whose checksum does
// not match its bytes.
var ErrBadIndex = errors.New("invalid pack index")

// magic starts every encoded index; the digit is the format version.
const magic = "mlstate-index 1\n"

// Encode returns the canonical bytes of ix: the magic, then per pack (in
// pack ID order) the pack ID, its number of chunks and each chunk's digest,
// offset and length (in offset order, then digest order, as uvarints),
// then the SHA-256 of everything before it. Packs without chunks are left
// out. Binary rather than JSON: a 20,000-file tree's index is under a MiB
// and decodes in milliseconds.
func (ix *Index) Encode() []byte {
	l := ix.layout()
	var buf bytes.Buffer
	buf.Grow(int(l.size))
	_ = ix.write(&buf, l)
	return buf.Bytes()
}

// Encoding is ix's encoding, to be written by WriteTo: Size says how long
// it is before any of it is produced, so a store can be given the
// encoding as it is written, never the whole bytes of a million-chunk
// index at once.
type Encoding struct {
	ix *Index
	l  layout
}

// Encoding lays ix out for writing.
func (ix *Index) Encoding() *Encoding { return &Encoding{ix: ix, l: ix.layout()} }

// Size is the length of the encoding.
func (e *Encoding) Size() int64 { return e.l.size }

// WriteTo writes the encoding to w.
func (e *Encoding) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := e.ix.write(bw, e.l); err != nil {
		return 0, err
	}
	return e.l.size, bw.Flush()
}

// layout is the order an encoding lists chunks in: order holds entry
// numbers, pack by pack (byID, ranked by pack ID), each pack's run
// order[start[r]:start[r+1]] in offset order.
type layout struct {
	byID   []uint32
	start  []int
	order  []uint32
	npacks int
	size   int64
}

func (ix *Index) layout() layout {
	if ix == nil {
		ix = &Index{}
	}
	// A counting sort of entry numbers over the packs' ranks in ID order,
	// then each pack's run by offset.
	rank := make([]uint32, len(ix.packs))
	byID := make([]uint32, len(ix.packs))
	for i := range byID {
		byID[i] = uint32(i)
	}
	slices.SortFunc(byID, func(a, b uint32) int { return bytes.Compare(ix.packs[a][:], ix.packs[b][:]) })
	for r, p := range byID {
		rank[p] = uint32(r)
	}
	start := make([]int, len(ix.packs)+1)
	for i := range ix.ents {
		start[rank[ix.ents[i].pack]+1]++
	}
	for r := range ix.packs {
		start[r+1] += start[r]
	}
	order := make([]uint32, len(ix.ents))
	next := slices.Clone(start[:len(ix.packs)])
	for i := range ix.ents {
		r := rank[ix.ents[i].pack]
		order[next[r]] = uint32(i)
		next[r]++
	}
	l := layout{byID: byID, start: start, order: order, size: int64(len(magic) + sha256.Size)}
	for r := range ix.packs {
		run := order[start[r]:start[r+1]]
		if len(run) == 0 {
			continue
		}
		l.npacks++
		l.size += int64(len(ID{}) + uvarintLen(uint64(len(run))))
		slices.SortFunc(run, func(a, b uint32) int {
			x, y := &ix.ents[a], &ix.ents[b]
			if c := cmpUint(x.off, y.off); c != 0 {
				return c
			}
			return x.cmp(&y.d)
		})
	}
	for i := range ix.ents {
		e := &ix.ents[i]
		l.size += int64(len(e.d) + uvarintLen(uint64(e.off)) + uvarintLen(uint64(e.len)))
	}
	l.size += int64(uvarintLen(uint64(l.npacks)))
	return l
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// write writes the encoding laid out by l, hashing it as it goes.
func (ix *Index) write(w io.Writer, l layout) error {
	if ix == nil {
		ix = &Index{}
	}
	h := sha256.New()
	out := io.MultiWriter(w, h)
	buf := make([]byte, 0, 32<<10)
	flush := func(force bool) error {
		if len(buf) < 16<<10 && !force {
			return nil
		}
		_, err := out.Write(buf)
		buf = buf[:0]
		return err
	}
	buf = append(buf, magic...)
	buf = binary.AppendUvarint(buf, uint64(l.npacks))
	for r, p := range l.byID {
		run := l.order[l.start[r]:l.start[r+1]]
		if len(run) == 0 {
			continue
		}
		buf = append(buf, ix.packs[p][:]...)
		buf = binary.AppendUvarint(buf, uint64(len(run)))
		for _, i := range run {
			e := &ix.ents[i]
			buf = append(buf, e.d[:]...)
			buf = binary.AppendUvarint(buf, uint64(e.off))
			buf = binary.AppendUvarint(buf, uint64(e.len))
			if err := flush(false); err != nil {
				return err
			}
		}
	}
	if err := flush(true); err != nil {
		return err
	}
	_, err := w.Write(h.Sum(nil))
	return err
}

// Decode parses index bytes, checking their checksum.
func Decode(data []byte) (*Index, error) {
	return ReadIndex(bytes.NewReader(data), int64(len(data)))
}

// minEntry is the fewest bytes an encoded chunk takes: its digest and two
// one-byte uvarints.
const minEntry = len(ID{}) + 2

// ReadIndex parses an index as it streams from r, checking its checksum,
// straight into the compact form: the encoded bytes are never held whole.
// Damage is reported as ErrBadIndex, whether it shows as a checksum
// mismatch or as bytes that do not parse. size, when positive, is the
// encoding's size: room for every chunk it can hold is made at once
// (bounded, in case the size is wrong), so the entries are not copied as
// they grow, which at a million chunks would hold two copies at a time.
func ReadIndex(r io.Reader, size int64) (*Index, error) {
	bad := func(why string) (*Index, error) { return nil, fmt.Errorf("%w: %s", ErrBadIndex, why) }
	hr := &heldBack{r: r, h: sha256.New()}
	br := bufio.NewReaderSize(hr, 64<<10)
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(br, head); err != nil && hr.err != nil {
		return nil, hr.err
	}
	if string(head) != magic {
		return bad("not an index of this format")
	}
	uv := func() (uint64, bool) {
		v, err := binary.ReadUvarint(br)
		return v, err == nil
	}
	id := func() (ID, bool) {
		var v ID
		_, err := io.ReadFull(br, v[:])
		return v, err == nil
	}
	// A parse that stops early is damage unless reading failed.
	truncated := func() (*Index, error) {
		if hr.err != nil {
			return nil, hr.err
		}
		return bad("truncated")
	}
	npacks, ok := uv()
	if !ok {
		return truncated()
	}
	var b IndexBuilder
	if size > 0 {
		b.Grow(int(min(size/int64(minEntry), 1<<22)))
	}
	for range npacks {
		p, ok := id()
		if !ok {
			return truncated()
		}
		n, ok := uv()
		if !ok {
			return truncated()
		}
		num := b.pack(p)
		for range n {
			d, ok1 := id()
			off, ok2 := uv()
			ln, ok3 := uv()
			if !ok1 || !ok2 || !ok3 {
				return truncated()
			}
			if ln == 0 || off > 1<<40 || ln > maxEntryLen {
				return bad("a chunk with an impossible offset or length")
			}
			b.ix.ents = append(b.ix.ents, entry{d: d, off: int64(off), len: uint32(ln), pack: num})
		}
	}
	if _, ok := id(); !ok { // the checksum, which heldBack kept back
		return truncated()
	}
	if _, err := br.ReadByte(); err == nil {
		return bad("trailing data")
	} else if hr.err != nil {
		return nil, hr.err
	}
	if ID(hr.h.Sum(nil)) != hr.tail {
		return bad("checksum mismatch (damaged in the store)")
	}
	return b.Index(), nil
}

// heldBack hashes what it reads from r except the last sha256.Size bytes
// so far, which it keeps in tail: at the end of the stream h has hashed
// the body and tail is the checksum that closes it. err is the first
// failure to read other than the end of the stream.
type heldBack struct {
	r    io.Reader
	h    hash.Hash
	tail ID
	n    int // bytes in tail
	err  error
}

func (hb *heldBack) Read(p []byte) (int, error) {
	n, err := hb.r.Read(p)
	if err != nil && err != io.EOF && hb.err == nil {
		hb.err = err
	}
	got := p[:n]
	if over := hb.n + len(got) - len(hb.tail); over > 0 {
		// The oldest bytes of tail+got leave the window: hash them.
		fromTail := min(over, hb.n)
		hb.h.Write(hb.tail[:fromTail])
		copy(hb.tail[:], hb.tail[fromTail:hb.n])
		hb.n -= fromTail
		hb.h.Write(got[:over-fromTail])
		got = got[over-fromTail:]
	}
	copy(hb.tail[hb.n:], got)
	hb.n += len(got)
	return n, err
}
