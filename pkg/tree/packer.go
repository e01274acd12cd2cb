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
type packer struct {
	up   *uploader
	mu   sync.Mutex
	b    *pack.Builder
	locs pack.Index
}

func newPacker(up *uploader) *packer {
	return &packer{up: up, b: pack.NewBuilder(packSize + maxPacked), locs: pack.Index{}}
}

// add appends a chunk, sending the pack when it is full.
func (p *packer) add(ctx context.Context, d ID, data []byte) error {
	p.mu.Lock()
	p.b.Add(d, data)
	if p.b.Len() < packSize {
		p.mu.Unlock()
		return nil
	}
	id, buf, _ := p.seal()
	p.mu.Unlock()
	return p.up.send(ctx, pack.Key(id), "pack "+ID(id).Short(), buf, true)
}

// seal closes the current pack; p.mu is held.
func (p *packer) seal() (pack.ID, []byte, pack.Index) {
	id, buf, ix := p.b.Seal()
	for d, l := range ix {
		p.locs[d] = l
	}
	p.b = pack.NewBuilder(packSize + maxPacked)
	return id, buf, ix
}

// flush sends the last, partly filled pack.
func (p *packer) flush(ctx context.Context) error {
	p.mu.Lock()
	if p.b.Len() == 0 {
		p.mu.Unlock()
		return nil
	}
	id, buf, _ := p.seal()
	p.mu.Unlock()
	return p.up.send(ctx, pack.Key(id), "pack "+ID(id).Short(), buf, true)
}
