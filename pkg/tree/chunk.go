package tree

import (
	"fmt"
	"io"
	"sync"

	fastcdc "github.com/jotfs/fastcdc-go"
)

// Chunk sizes. Files up to minChunk bytes are one chunk. Larger files are cut
// by FastCDC around avgChunk: small enough that a 10% in-place change of a
// large checkpoint re-uploads little more than that 10% (a change costs
// about 1.5 average chunks extra), large enough that every object request's
// fixed cost (a MinIO PUT syncs its metadata) is spread over megabytes.
const (
	minChunk = 512 << 10
	avgChunk = 2 << 20
	maxChunk = 8 << 20
)

// chunkBuf is a chunker's read buffer. fastcdc moves the unread rest of it
// to the front whenever less than maxChunk is left: with a buffer barely
// above maxChunk that moved about three bytes per byte chunked; with twice
// maxChunk, less than one.
const chunkBuf = 2 * maxChunk

// fastcdc.NewChunker writes its package-level gear table (it XORs in the
// seed, here 0) while other chunkers read it. Creating chunkers under the
// write lock and cutting under the read lock keeps that race-free.
var cdcTable sync.RWMutex

type chunker struct{ c *fastcdc.Chunker }

func newChunker(r io.Reader) (*chunker, error) {
	cdcTable.Lock()
	defer cdcTable.Unlock()
	c, err := fastcdc.NewChunker(r, fastcdc.Options{
		MinSize: minChunk, AverageSize: avgChunk, MaxSize: maxChunk,
		BufSize: chunkBuf,
	})
	if err != nil {
		return nil, fmt.Errorf("chunker: %w", err)
	}
	return &chunker{c}, nil
}

// next returns the next chunk's bytes, valid until the following call, or io.EOF.
func (c *chunker) next() ([]byte, error) {
	cdcTable.RLock()
	defer cdcTable.RUnlock()
	ch, err := c.c.Next()
	return ch.Data, err
}
