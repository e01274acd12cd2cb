package tree

import (
	"context"
	"sync"

	"github.com/mlstate/mlstate/pkg/tree/pack"
)

// Pack sizes. Chunks of at most maxPacked bytes (whole small files, the
// tails of large ones) are appended to packs of about packSize bytes;
// larger chunks stay single objects, where one PUT already carries
// megabytes. packSize is measured (see README, performance): large enough
// that the per-request cost vanishes, small enough that a push has a pack
// per worker in flight and a pull reads few bytes it does not need.
const maxPacked = minChunk

// packSize is a variable only so BenchmarkPackSize can compare sizes.
var packSize = 4 << 20

func packed(size int64) bool { return size <= maxPacked }

// packer appends small chunks to the pack being built and hands each full
// pack to the uploader. The locations it records are only used once every
// upload has succeeded: an index never names a pack that was not stored.
// They go straight into an index builder, pack by pack, as 48-byte
// entries: a map of a million locations was most of a big push's memory.
type packer struct {
	up   *uploader
	mu   sync.Mutex
	b    *pack.Builder
	locs pack.IndexBuilder
}

func newPacker(up *uploader) *packer {
	return &packer{up: up, b: pack.NewBuilder(packSize + maxPacked)}
}

// add appends a chunk, sending the pack when it is full.
func (p *packer) add(ctx context.Context, d ID, data []byte) error {
	p.mu.Lock()
	p.b.Add(d, data)
	if p.b.Len() < packSize {
		p.mu.Unlock()
		return nil
	}
	id, buf := p.seal()
	p.mu.Unlock()
	return p.up.send(ctx, pack.Key(id), "pack "+ID(id).Short(), buf, true)
}

// seal closes the current pack; p.mu is held.
func (p *packer) seal() (pack.ID, []byte) {
	id, buf, parts := p.b.Seal()
	p.locs.AddPack(id, parts)
	p.b = pack.NewBuilder(packSize + maxPacked)
	return id, buf
}

// index returns where the sealed packs put their chunks; the packer's
// record is then empty.
func (p *packer) index() *pack.Index {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.locs.Index()
}

// flush sends the last, partly filled pack.
func (p *packer) flush(ctx context.Context) error {
	p.mu.Lock()
	if p.b.Len() == 0 {
		p.mu.Unlock()
		return nil
	}
	id, buf := p.seal()
	p.mu.Unlock()
	return p.up.send(ctx, pack.Key(id), "pack "+ID(id).Short(), buf, true)
}
