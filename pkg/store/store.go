// Package store defines where mlstate keeps its objects: content-addressed
// chunks, tree manifests and restore-point records. Backends (S3/MinIO and a
// local directory) live in subpackages; Open picks one from a store URL.
package store

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

// Store is a flat key/value object store. Keys are slash-separated relative
// paths ("chunks/ab/abcd…"); backends map them onto their own namespace.
//
// Contract, checked by the conformance suite in storetest:
//   - Put is atomic: a reader sees the whole object or nothing, never a part.
//     Putting an existing key replaces it.
//   - PutIfAbsent is atomic and fails with ErrExists when the key exists;
//     immutable objects (restore-point records) are written with it.
//   - Get and Stat fail with an error matching ErrNotFound for a missing key.
//   - List calls fn for every key under prefix in lexical order; fn's error
//     stops the listing and is returned.
//   - Delete of a missing key succeeds.
//   - All methods are safe for concurrent use.
//   - Errors worth a retry (unreachable, throttled, 5xx) match ErrTransient
//     after the backend's own retries are spent; wrong credentials match
//     ErrPermission.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (Info, error)
	List(ctx context.Context, prefix string, fn func(Info) error) error
	Delete(ctx context.Context, key string) error
	// String names the store for messages, without credentials.
	String() string
}

// Info describes one stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Sentinel errors every backend translates its own errors into. Each carries
// its exit code, so a step needs no translation table of its own; callers
// that mean something more specific (a missing chunk is an integrity
// failure) classify again on the outside, and the outermost code wins.
var (
	ErrNotFound   = exitcode.With(exitcode.Precondition, errors.New("not found"))
	ErrExists     = exitcode.With(exitcode.Conflict, errors.New("already exists"))
	ErrTransient  = exitcode.With(exitcode.Transient, errors.New("temporarily unavailable"))
	ErrPermission = exitcode.With(exitcode.Permission, errors.New("access denied"))
	// ErrClockSkew: the server refused a request signed at a time too far
	// from its own; no credential is wrong, the host's clock is.
	ErrClockSkew = exitcode.With(exitcode.Precondition, errors.New("clock skew"))
)

// BatchDeleter is a Store that deletes many keys in one request (S3's
// multi-object DELETE, up to 1000 keys each). DeleteMany has Delete's
// contract for every key: a missing key is not an error.
type BatchDeleter interface {
	DeleteMany(ctx context.Context, keys []string) error
}

// RangeGetter is a Store that reads part of an object in one request (an
// HTTP Range GET). The body holds exactly n bytes from off, unless the
// object is shorter; from or past its end the body is empty (not an
// error: the caller reads it as cut short, as a damaged object is).
type RangeGetter interface {
	GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
}

// GetRange reads n bytes of key from off: with one ranged request when st
// is a RangeGetter, else by reading from the start and dropping off bytes.
func GetRange(ctx context.Context, st Store, key string, off, n int64) (io.ReadCloser, error) {
	if rg, ok := st.(RangeGetter); ok {
		return rg.GetRange(ctx, key, off, n)
	}
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		rc.Close()
		if err == io.EOF {
			return io.NopCloser(eofReader{}), nil
		}
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, n), rc}, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// DeleteMany deletes keys, in batches when st is a BatchDeleter and one by
// one otherwise; it stops at the first failure.
func DeleteMany(ctx context.Context, st Store, keys []string) error {
	if bd, ok := st.(BatchDeleter); ok {
		return bd.DeleteMany(ctx, keys)
	}
	for _, k := range keys {
		if err := st.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}
