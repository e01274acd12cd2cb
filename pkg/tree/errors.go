package tree

import "errors"

// Sentinel errors. Steps map them to exit codes: ErrDigestMismatch and
// ErrChunkMissing to integrity, ErrTreeNotFound to precondition,
// ErrInvalidID, ErrBadSource and ErrInvalidName to usage, ErrConcurrentSweep to transient.
var (
	// ErrDigestMismatch: stored bytes do not hash to the digest naming them.
	ErrDigestMismatch = errors.New("content does not match its digest")
	// ErrChunkMissing: a tree names a chunk the store does not hold.
	ErrChunkMissing = errors.New("chunk missing from the store")
	// ErrTreeNotFound: no tree with that ID (or name) in the store.
	ErrTreeNotFound = errors.New("tree not found")
	// ErrInvalidID: a string that is not an ID.
	ErrInvalidID = errors.New("invalid ID")
	// ErrInvalidManifest: a manifest that is malformed or unsafe to restore
	// (absolute paths, "..", duplicates, paths through symlinks).
	ErrInvalidManifest = errors.New("invalid manifest")
	// ErrBadSource: the directory to push is missing or not a directory.
	ErrBadSource = errors.New("bad source directory")
	// ErrInvalidName: a push name outside [A-Za-z0-9._-].
	ErrInvalidName = errors.New("invalid name")
	// ErrFileChanged: a file changed while it was read, more often than retried.
	ErrFileChanged = errors.New("file changed while it was read")
	// ErrConcurrentSweep: a Sweep ran during the push, so chunks the push
	// relied on may be gone; retrying the push is safe.
	ErrConcurrentSweep = errors.New("a sweep (prune) ran during the push")
)
