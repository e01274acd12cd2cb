package pack

import (
	"bytes"
	"slices"
)

// Range is one ranged GET of a pack: Len bytes from Off, holding Parts.
type Range struct {
	Pack  ID
	Off   int64
	Len   int64
	Parts []Part
}

// Part is one chunk inside a Range, at Off from the range's start.
type Part struct {
	Digest ID
	Off    int64 // from the start of the range
	Len    int64
}

// Plan groups the located chunks into ranged GETs: chunks of one pack
// closer than gap bytes are read by one request (the bytes between them
// are read and dropped), as long as the request stays under max bytes.
// Each digest is read once.
func Plan(locs map[ID]Loc, gap, max int64) []Range {
	byPack := map[ID][]Part{}
	for d, l := range locs {
		byPack[l.Pack] = append(byPack[l.Pack], Part{Digest: d, Off: l.Off, Len: l.Len})
	}
	packs := make([]ID, 0, len(byPack))
	for p := range byPack {
		packs = append(packs, p)
	}
	slices.SortFunc(packs, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	var out []Range
	for _, p := range packs {
		parts := byPack[p]
		slices.SortFunc(parts, func(a, b Part) int {
			switch {
			case a.Off < b.Off:
				return -1
			case a.Off > b.Off:
				return 1
			}
			return bytes.Compare(a.Digest[:], b.Digest[:])
		})
		var cur *Range
		for _, pt := range parts {
			if cur != nil {
				end := cur.Off + cur.Len
				if pt.Off >= end && pt.Off-end <= gap && pt.Off+pt.Len-cur.Off <= max {
					cur.Parts = append(cur.Parts, Part{Digest: pt.Digest, Off: pt.Off - cur.Off, Len: pt.Len})
					cur.Len = pt.Off + pt.Len - cur.Off
					continue
				}
			}
			out = append(out, Range{Pack: p, Off: pt.Off, Len: pt.Len, Parts: []Part{{Digest: pt.Digest, Len: pt.Len}}})
			cur = &out[len(out)-1]
		}
	}
	return out
}
