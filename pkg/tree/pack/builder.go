package pack

import "crypto/sha256"

// Builder collects chunks into one pack. It is not safe for concurrent use.
type Builder struct {
	buf    []byte
	chunks []built
}

type built struct {
	d        ID
	off, len int64
}

// NewBuilder returns a builder whose buffer holds size bytes without growing.
func NewBuilder(size int) *Builder { return &Builder{buf: make([]byte, 0, size)} }

// Add appends a chunk's bytes.
func (b *Builder) Add(d ID, data []byte) {
	b.chunks = append(b.chunks, built{d, int64(len(b.buf)), int64(len(data))})
	b.buf = append(b.buf, data...)
}

// Len is the pack's size so far.
func (b *Builder) Len() int { return len(b.buf) }

// Seal returns the pack's ID and bytes and the location of each chunk in it.
func (b *Builder) Seal() (ID, []byte, Index) {
	id := ID(sha256.Sum256(b.buf))
	ix := make(Index, len(b.chunks))
	for _, c := range b.chunks {
		ix[c.d] = Loc{Pack: id, Off: c.off, Len: c.len}
	}
	return id, b.buf, ix
}
