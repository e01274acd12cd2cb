package tree

import (
	"context"
	"encoding/binary"
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
	// slots is the set of chunks packed so far, by position: locs'
	// entries, then b's chunks (sealing appends b's chunks to locs in
	// order, so a position never changes). Open addressing, linear
	// probing, at most half full; 0 is empty, else position+1.
	slots []uint32
	n     int // chunks packed: locs.Len() + b.Chunks()
}

func newPacker(up *uploader) *packer {
	return &packer{up: up, b: pack.NewBuilder(packSize + maxPacked)}
}

// add appends a chunk unless this push packed it already (added is then
// false), sending the pack when it is full.
func (p *packer) add(ctx context.Context, d ID, data []byte) (added bool, err error) {
	p.mu.Lock()
	if !p.claim(d) {
		p.mu.Unlock()
		return false, nil
	}
	p.b.Add(d, data)
	if p.b.Len() < packSize {
		p.mu.Unlock()
		return true, nil
	}
	id, buf := p.seal()
	p.mu.Unlock()
	return true, p.up.send(ctx, pack.Key(id), "pack "+ID(id).Short(), buf, true)
}

// claim records d as packed and reports true, or false when it already
// was; p.mu is held and the caller packs d next.
func (p *packer) claim(d ID) bool {
	if 2*(p.n+1) > len(p.slots) {
		p.grow()
	}
	mask := len(p.slots) - 1
	for i := slotOf(d) & mask; ; i = (i + 1) & mask {
		s := p.slots[i]
		if s == 0 {
			p.n++
			p.slots[i] = uint32(p.n)
			return true
		}
		if p.digest(int(s-1)) == d {
			return false
		}
	}
}

func (p *packer) grow() {
	old := p.slots
	p.slots = make([]uint32, max(1024, 2*len(old)))
	mask := len(p.slots) - 1
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := slotOf(p.digest(int(s-1))) & mask
		for p.slots[i] != 0 {
			i = (i + 1) & mask
		}
		p.slots[i] = s
	}
}

// digest is the chunk packed at position i.
func (p *packer) digest(i int) ID {
	if i < p.locs.Len() {
		return p.locs.Digest(i)
	}
	return p.b.Digest(i - p.locs.Len())
}

// slotOf spreads digests over the slots: they are SHA-256, uniform already.
func slotOf(d ID) int { return int(binary.LittleEndian.Uint64(d[:8]) >> 1) }

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
	p.slots, p.n = nil, 0
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
