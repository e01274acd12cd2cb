// Package tree stores directory trees in a store.Store as content-addressed,
// immutable snapshots and restores them.
//
// # Layout in the store
//
//	packs/<2 hex>/<64 hex>    chunks of up to 512 KiB, appended into packs of about 4 MiB, keyed by the pack's SHA-256
//	index/<64 hex>            where each packed chunk of tree <64 hex> is (see package pack)
//	chunks/<2 hex>/<64 hex>   larger chunks, one object each (and every chunk of trees pushed before packs), keyed by SHA-256
//	trees/<64 hex>            a tree's root: its root directory's document (format 2,
//	                          dirdoc.go) or, for older trees, one flat Manifest (format 1);
//	                          canonical JSON, keyed by the SHA-256 of its bytes
//	dirs/<2 hex>/<64 hex>     a directory's document (format 2), keyed by its SHA-256
//	names/<name>/<ns>-<id>    an empty object recording that tree id was pushed under name
//	pushes/<ns>-<rand>        a push's lease, rewritten every minute while it runs (see lease.go)
//	sweeps/<ns>-<rand>[.done] a Sweep's marker, rewritten every 20 s while it runs; .done when it ended
//
// A tree's ID is the digest of its root document, which names its
// directories' documents by digest, which name every chunk by digest (file
// content is split by content-defined chunking), so an ID pins the exact
// bytes of every file; where the chunks are stored is the index's business,
// and can change under a prune without changing it.
package tree

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// ID identifies a tree or chunk: a SHA-256 digest.
type ID [sha256.Size]byte

// ParseID parses the 64-hex-digit form of an ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("%w: %q is not a tree ID (64 hex digits)", ErrInvalidID, s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: %q is not a tree ID (64 hex digits)", ErrInvalidID, s)
	}
	return id, nil
}

// Sum returns the ID of data.
func Sum(data []byte) ID { return sha256.Sum256(data) }

// String is the full hex form.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short is a 12-digit prefix for messages.
func (id ID) Short() string { return id.String()[:12] }

// IsZero reports whether id is unset.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText encodes the hex form.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses the hex form.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

func chunkKey(d ID) string {
	s := d.String()
	return "chunks/" + s[:2] + "/" + s
}

func treeKey(id ID) string { return "trees/" + id.String() }
