// Package filestore keeps a store in a local directory: one file per key,
// written to a temporary file and renamed into place so readers never see a
// partial object. It is the store for a single machine, for tests, and for a
// shared volume mounted into pods.
package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mlstate/mlstate/pkg/store"
)

// tmpPrefix marks files being written; List skips them and they never match
// a key because keys may not start with a dot segment.
const tmpPrefix = ".tmp-"

// objectMode is the permission of every stored object.
const objectMode = 0o644

// staleTemp is how old a temporary file must be before List takes it for
// the leftover of a killed writer and removes it. No object takes that
// long to write.
const staleTemp = time.Hour

// Store is a store.Store in a directory.
type Store struct {
	root string
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.RangeGetter = (*Store)(nil)
)

// New opens (and creates, when create is true) the directory root.
func New(root string, create bool) (*Store, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("file store %q: path must be absolute", root)
	}
	if create {
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, fmt.Errorf("create file store %s: %w", root, classify(err))
		}
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("open file store %s: %w (check the store URL; to start a new store, create it, or pass --create-bucket to stage push, snapshot or guard)", root, classify(err))
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open file store %s: not a directory", root)
	}
	return &Store{root: filepath.Clean(root)}, nil
}

// String names the store.
func (s *Store) String() string { return "file://" + s.root }

func (s *Store) file(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || path.Clean(key) != key || strings.HasPrefix(key, "..") {
		return "", fmt.Errorf("invalid key %q", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if strings.HasPrefix(seg, ".") {
			return "", fmt.Errorf("invalid key %q: segments may not start with a dot", key)
		}
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// Put writes key atomically, replacing any previous object.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	tmp, err := s.writeTemp(ctx, key, r, size)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	dst, _ := s.file(key)
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("put %s: %w", key, classify(err))
	}
	return syncDir(key, filepath.Dir(dst))
}

// syncDir makes a rename or link in dir durable: without it, a power loss
// can lose an object that Put already reported written.
func syncDir(key, dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, classify(err))
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("put %s: sync directory: %w", key, classify(err))
	}
	return nil
}

// PutIfAbsent writes key unless it exists. A hard link from the complete
// temporary file is atomic and fails when the name is taken, so two racing
// writers cannot both succeed and no reader sees a partial object.
func (s *Store) PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error {
	dst, err := s.file(key)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("put %s: %w", key, store.ErrExists)
	}
	tmp, err := s.writeTemp(ctx, key, r, size)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("put %s: %w", key, store.ErrExists)
		}
		return fmt.Errorf("put %s: %w", key, classify(err))
	}
	return syncDir(key, filepath.Dir(dst))
}

func (s *Store) writeTemp(ctx context.Context, key string, r io.Reader, size int64) (string, error) {
	dst, err := s.file(key)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("put %s: %w", key, classify(err))
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return "", fmt.Errorf("put %s: %w", key, classify(err))
	}
	// Objects are readable by every UID (CreateTemp makes 0600): pods
	// with other users share a store on one volume.
	err = f.Chmod(objectMode)
	var n int64
	if err == nil {
		n, err = io.Copy(f, ctxReader{ctx, r})
	}
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("wrote %d bytes, expected %d", n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("put %s: %w", key, classify(err))
	}
	return f.Name(), nil
}

// Get opens key for reading.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	f, err := s.open(key)
	if err != nil {
		return nil, err // not a nil *os.File in the interface
	}
	return f, nil
}

func (s *Store) open(key string) (*os.File, error) {
	p, err := s.file(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, classify(err))
	}
	return f, nil
}

// GetRange opens n bytes of key from off.
func (s *Store) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	f, err := s.open(key)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, off, n), f}, nil
}

// Stat describes key.
func (s *Store) Stat(ctx context.Context, key string) (store.Info, error) {
	p, err := s.file(key)
	if err != nil {
		return store.Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return store.Info{}, fmt.Errorf("stat %s: %w", key, classify(err))
	}
	if fi.IsDir() {
		return store.Info{}, fmt.Errorf("stat %s: %w", key, store.ErrNotFound)
	}
	return store.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.file(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, classify(err))
	}
	return nil
}

// List calls fn for each key under prefix, in lexical order. Directories are
// read one at a time so a huge store is never held in memory at once.
func (s *Store) List(ctx context.Context, prefix string, fn func(store.Info) error) error {
	// Start at the deepest directory the prefix names completely.
	dir := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dir = prefix[:i]
	}
	err := s.walk(ctx, dir, prefix, fn)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (s *Store) walk(ctx context.Context, dir, prefix string, fn func(store.Info) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(s.root, filepath.FromSlash(dir)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("list %s: %w", prefix, classify(err))
	}
	// A directory "a" sorts its children "a/…" after a sibling key "a-b" and
	// before "a0", so order by the key each entry stands for.
	names := make([]string, 0, len(entries))
	isDir := map[string]bool{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			s.removeStaleTemp(filepath.Join(s.root, filepath.FromSlash(dir), e.Name()))
			continue
		}
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name := e.Name()
		if e.IsDir() {
			isDir[name+"/"] = true
			name += "/"
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		key := name
		if dir != "" {
			key = dir + "/" + name
		}
		if isDir[name] {
			k := strings.TrimSuffix(key, "/")
			if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
				continue
			}
			if err := s.walk(ctx, k, prefix, fn); err != nil {
				return err
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		fi, err := os.Stat(filepath.Join(s.root, filepath.FromSlash(key)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted while listing
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, classify(err))
		}
		if err := fn(store.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// removeStaleTemp removes a temporary file left by a writer that was
// killed before it could rename it (they are otherwise never removed).
func (s *Store) removeStaleTemp(p string) {
	if fi, err := os.Lstat(p); err == nil && time.Since(fi.ModTime()) > staleTemp {
		_ = os.Remove(p)
	}
}

// classify adds the store sentinel matching an OS error.
func classify(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %w", store.ErrPermission, err)
	}
	return err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
