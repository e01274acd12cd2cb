// Package pack lays small chunks out in pack objects and records where each
// one is in a tree's index.
//
// A pack is the plain concatenation of chunks (no header: the index says
// where each chunk starts), stored under packs/<2 hex>/<64 hex>, keyed by
// the SHA-256 of its bytes. A many-small-files tree then costs one PUT per
// few MiB instead of one per file, and a pull one ranged GET per run of
// neighbouring chunks.
//
// An index maps chunk digests to pack, offset and length. Each tree has
// one, index/<tree id>, written after the packs it names and before the
// tree, so a stored tree's index never names a pack that was not stored.
// It is keyed by the tree it serves, not by its own bytes, because where a
// chunk lives is not part of the tree's identity: a prune that repacks
// rewrites the index of every tree it moved chunks of, and the tree ID,
// which pins only content, stays. A chunk a tree's index does not name is
// a single object, chunks/<2 hex>/<64 hex> (large chunks, and every chunk
// of a store written before packs).
package pack

import (
	"encoding/hex"
)

// ID is a SHA-256 digest: of a chunk, a pack, or a tree.
type ID = [32]byte

// Loc is where a chunk's bytes are: Len bytes at Off in pack Pack.
type Loc struct {
	Pack ID
	Off  int64
	Len  int64
}

// Key is the store key of pack id.
func Key(id ID) string {
	s := hex.EncodeToString(id[:])
	return "packs/" + s[:2] + "/" + s
}

// IndexKey is the store key of the index of tree id.
func IndexKey(tree ID) string { return IndexPrefix + hex.EncodeToString(tree[:]) }

// Prefixes of the pack and index keys, for listings.
const (
	Prefix      = "packs/"
	IndexPrefix = "index/"
)

// ParseKey returns the pack ID of a pack key.
func ParseKey(key string) (ID, bool) {
	var id ID
	if len(key) != len("packs/xx/")+64 || key[:len(Prefix)] != Prefix {
		return id, false
	}
	_, err := hex.Decode(id[:], []byte(key[len("packs/xx/"):]))
	return id, err == nil
}

// ParseIndexKey returns the tree ID of an index key.
func ParseIndexKey(key string) (ID, bool) {
	var id ID
	if len(key) != len(IndexPrefix)+64 || key[:len(IndexPrefix)] != IndexPrefix {
		return id, false
	}
	_, err := hex.Decode(id[:], []byte(key[len(IndexPrefix):]))
	return id, err == nil
}
