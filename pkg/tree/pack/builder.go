package pack

import "crypto/sha256"

// Builder collects chunks into one pack. It is not safe for concurrent use.
type Builder struct {
	buf    []byte
	chunks []Part
}

// NewBuilder returns a builder whose buffer holds size bytes without growing.
func NewBuilder(size int) *Builder { return &Builder{buf: make([]byte, 0, size)} }

// Add appends a chunk's bytes.
func (b *Builder) Add(d ID, data []byte) {
	b.chunks = append(b.chunks, Part{Digest: d, Off: int64(len(b.buf)), Len: int64(len(data))})
	b.buf = append(b.buf, data...)
}

// Chunks is the number of chunks added so far.
func (b *Builder) Chunks() int { return len(b.chunks) }

// Digest is the digest of the i-th chunk added.
func (b *Builder) Digest(i int) ID { return b.chunks[i].Digest }

// Len is the pack's size so far.
func (b *Builder) Len() int { return len(b.buf) }

// Seal returns the pack's ID and bytes and its chunks, in offset order,
// with their offsets from the start of the pack (IndexBuilder.AddPack
// takes them as they are).
func (b *Builder) Seal() (ID, []byte, []Part) {
	return ID(sha256.Sum256(b.buf)), b.buf, b.chunks
}
