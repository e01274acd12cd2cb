package tree

import "slices"

// Change kinds.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// Change is one path that differs between two trees.
type Change struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
	Type string `json:"type"` // the new type, or the old one for Removed
}

// Diff lists what changed from a to b, sorted by path. An entry is changed
// when its type, mode, content, or symlink target differ; mtimes alone are
// ignored (content decides). A nil manifest is an empty tree.
func Diff(a, b *Manifest) []Change {
	var ae, be []Entry
	if a != nil {
		ae = a.Entries
	}
	if b != nil {
		be = b.Entries
	}
	var out []Change
	i, j := 0, 0
	for i < len(ae) || j < len(be) {
		switch {
		case j == len(be) || (i < len(ae) && ae[i].Path < be[j].Path):
			out = append(out, Change{Removed, ae[i].Path, ae[i].Type})
			i++
		case i == len(ae) || be[j].Path < ae[i].Path:
			out = append(out, Change{Added, be[j].Path, be[j].Type})
			j++
		default:
			if !sameEntry(ae[i], be[j]) {
				out = append(out, Change{Changed, be[j].Path, be[j].Type})
			}
			i++
			j++
		}
	}
	return out
}

func sameEntry(x, y Entry) bool {
	return x.Type == y.Type && x.Mode == y.Mode && x.Size == y.Size && x.Target == y.Target && slices.Equal(x.Chunks, y.Chunks)
}
