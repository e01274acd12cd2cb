package tree

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree/pack"
)

// repackBelow: a pack older than the sweep's cutoff whose live chunks
// fill less than this fraction of it is repacked: its live chunks are
// copied into new packs and it is deleted. Below one half, every byte
// copied frees more than a byte; above it, a prune would rewrite much to
// free little.
const repackBelow = 0.5

// packSweep is the pack side of one sweep: the roots' indexes, and what
// to delete and rewrite.
type packSweep struct {
	st      store.Store
	cutoff  time.Time
	keep    map[ID]bool        // the chunks the roots hold
	indexes map[ID]*pack.Index // root tree -> its index
	// Keys to delete, in order: indexes of deleted trees first (a stored
	// index must never name a deleted pack), then packs.
	doomedIndexes, doomedPacks []string
	repack                     map[pack.ID]int64 // pack -> its size
	kept                       int
	doomedBytes                int64 // of the dead packs
}

// planPacks loads the roots' indexes and decides, from one listing of
// index/ and one of packs/, which indexes and packs go and which packs are
// repacked. Nothing modified after cutoff is touched: it may belong to a
// push still running.
//
// Only the chunks the roots hold (keep) count as live: a push takes its
// parent's index whole (see pusher.treeIndex), so an index may also name
// chunks its tree no longer holds, and those must not keep a pack alive.
func planPacks(ctx context.Context, st store.Store, roots []ID, keep map[ID]bool, cutoff time.Time) (*packSweep, error) {
	ps := &packSweep{st: st, cutoff: cutoff, keep: keep, indexes: map[ID]*pack.Index{}, repack: map[pack.ID]int64{}}
	isRoot := map[ID]bool{}
	live := map[pack.ID]map[int64]int64{} // pack -> offset -> length of live chunks
	for _, id := range roots {
		isRoot[id] = true
		ix, _, err := loadIndex(ctx, st, id)
		if err != nil {
			// Without a live tree's index its packs would look dead.
			return nil, fmt.Errorf("sweep: %w; refusing to delete anything", err)
		}
		ps.indexes[id] = ix
		for d, l := range ix.All() {
			if !keep[d] {
				continue
			}
			if live[l.Pack] == nil {
				live[l.Pack] = map[int64]int64{}
			}
			live[l.Pack][l.Off] = l.Len
		}
	}
	err := st.List(ctx, pack.IndexPrefix, func(info store.Info) error {
		id, ok := pack.ParseIndexKey(info.Key)
		if ok && !isRoot[id] && !info.ModTime.After(cutoff) {
			ps.doomedIndexes = append(ps.doomedIndexes, info.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sweep: list pack indexes: %w", err)
	}
	err = st.List(ctx, pack.Prefix, func(info store.Info) error {
		id, ok := pack.ParseKey(info.Key)
		if !ok || info.ModTime.After(cutoff) {
			ps.kept++
			return nil
		}
		var used int64
		for _, n := range live[id] {
			used += n
		}
		switch {
		case used == 0:
			ps.doomedPacks = append(ps.doomedPacks, info.Key)
			ps.doomedBytes += info.Size
		case float64(used) < repackBelow*float64(info.Size):
			ps.repack[id] = info.Size
		default:
			ps.kept++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sweep: list packs: %w", err)
	}
	return ps, nil
}

// repackAll copies the live chunks of the packs to repack into new packs,
// checking each against its digest, then rewrites the index of every root
// that used them or names a pack about to be deleted. Only then are the
// old packs added to the deletions: a sweep killed half way leaves old and
// new packs both readable.
func (ps *packSweep) repackAll(ctx context.Context) (int, error) {
	parts := map[pack.ID]map[int64]pack.Part{}
	for _, ix := range ps.indexes {
		for d, l := range ix.All() {
			if _, ok := ps.repack[l.Pack]; ok && ps.keep[d] {
				if parts[l.Pack] == nil {
					parts[l.Pack] = map[int64]pack.Part{}
				}
				parts[l.Pack][l.Off] = pack.Part{Digest: d, Off: l.Off, Len: l.Len}
			}
		}
	}
	moved := map[pack.Loc]pack.Loc{}
	b := pack.NewBuilder(packSize + maxPacked)
	var pending []pack.Loc // old locations in b
	seal := func() error {
		if b.Len() == 0 {
			return nil
		}
		id, data, sealed := b.Seal()
		if err := ps.st.Put(ctx, pack.Key(id), bytes.NewReader(data), int64(len(data))); err != nil {
			return fmt.Errorf("sweep: store repacked pack: %w", err)
		}
		// Seal lists the chunks in the order they were added: pending's.
		for i, old := range pending {
			moved[old] = pack.Loc{Pack: id, Off: sealed[i].Off, Len: sealed[i].Len}
		}
		b, pending = pack.NewBuilder(packSize+maxPacked), nil
		return nil
	}
	done := 0
	for p, live := range parts {
		chunks, err := readLive(ctx, ps.st, p, live)
		if err != nil {
			return 0, err
		}
		if chunks == nil {
			continue // damaged: left as it is, for verify to report
		}
		for _, c := range chunks {
			b.Add(c.part.Digest, c.data)
			pending = append(pending, pack.Loc{Pack: p, Off: c.part.Off, Len: c.part.Len})
			if b.Len() >= packSize {
				if err := seal(); err != nil {
					return 0, err
				}
			}
		}
		done++
	}
	if err := seal(); err != nil {
		return 0, err
	}
	for p := range parts {
		fully := true
		for _, pt := range parts[p] {
			if _, ok := moved[pack.Loc{Pack: p, Off: pt.Off, Len: pt.Len}]; !ok {
				fully = false
			}
		}
		if fully {
			ps.doomedPacks = append(ps.doomedPacks, pack.Key(p))
		}
	}
	// Every root index that names a moved chunk or a doomed pack is
	// rewritten before any pack is deleted: a stored index never names a
	// deleted pack. Its entries for chunks its tree no longer holds go.
	doomed := map[string]bool{}
	for _, k := range ps.doomedPacks {
		doomed[k] = true
	}
	for root, ix := range ps.indexes {
		changed := false
		for d, l := range ix.All() {
			if _, ok := moved[l]; ok && ps.keep[d] || doomed[pack.Key(l.Pack)] {
				changed = true
				break
			}
		}
		if !changed {
			continue
		}
		var nb pack.IndexBuilder
		for d, l := range ix.All() {
			if !ps.keep[d] {
				continue
			}
			if nl, ok := moved[l]; ok {
				l = nl
			}
			nb.Add(d, l)
		}
		data := nb.Index().Encode()
		if err := ps.st.Put(ctx, pack.IndexKey(root), bytes.NewReader(data), int64(len(data))); err != nil {
			return 0, fmt.Errorf("sweep: rewrite the pack index of tree %s: %w", root.Short(), err)
		}
	}
	return done, nil
}

type liveChunk struct {
	part pack.Part
	data []byte
}

// readLive reads pack p once and returns its live chunks, or nil when one
// does not match its digest (the pack is then kept as it is).
func readLive(ctx context.Context, st store.Store, p pack.ID, parts map[int64]pack.Part) ([]liveChunk, error) {
	sorted := make([]pack.Part, 0, len(parts))
	for _, pt := range parts {
		sorted = append(sorted, pt)
	}
	slices.SortFunc(sorted, func(a, b pack.Part) int { return cmp.Compare(a.Off, b.Off) })
	rc, err := st.Get(ctx, pack.Key(p))
	if err != nil {
		return nil, fmt.Errorf("sweep: read pack %s to repack it: %w", ID(p).Short(), err)
	}
	defer rc.Close()
	var out []liveChunk
	pos := int64(0)
	for _, pt := range sorted {
		if _, err := io.CopyN(io.Discard, rc, pt.Off-pos); err != nil {
			return nil, fmt.Errorf("sweep: read pack %s to repack it: %w", ID(p).Short(), err)
		}
		data := make([]byte, pt.Len)
		if _, err := io.ReadFull(rc, data); err != nil {
			return nil, fmt.Errorf("sweep: read pack %s to repack it: %w", ID(p).Short(), err)
		}
		if sha256.Sum256(data) != pt.Digest {
			return nil, nil
		}
		out = append(out, liveChunk{pt, data})
		pos = pt.Off + pt.Len
	}
	return out, nil
}
