package tree

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/mlstate/mlstate/pkg/store"
)

// maxManifest bounds what one document read reads: ~10M entries' worth.
const maxManifest = 2 << 30

// readObject reads key and checks that its bytes hash to id.
func readObject(ctx context.Context, st store.Store, key string, id ID) ([]byte, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxManifest))
	if err != nil {
		return nil, err
	}
	if Sum(data) != id {
		return nil, ErrDigestMismatch
	}
	return data, nil
}

// loadRoot reads tree id: a flat manifest (format 1) or the root
// directory's document (format 2), checked against id and validated.
func loadRoot(ctx context.Context, st store.Store, id ID) (*Manifest, *dirDoc, error) {
	data, err := readObject(ctx, st, treeKey(id), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: %s in %s", ErrTreeNotFound, id, st)
	}
	if errors.Is(err, ErrDigestMismatch) {
		return nil, nil, fmt.Errorf("load tree %s: manifest %w", id.Short(), err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load tree %s: %w", id.Short(), err)
	}
	var probe struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, nil, fmt.Errorf("load tree %s: %w: %v", id.Short(), ErrInvalidManifest, err)
	}
	if probe.Version == dirVersion {
		d, err := decodeDir(data)
		if err != nil {
			return nil, nil, fmt.Errorf("load tree %s: %w", id.Short(), err)
		}
		return nil, d, nil
	}
	m, err := DecodeManifest(data)
	if err != nil {
		return nil, nil, fmt.Errorf("load tree %s: %w", id.Short(), err)
	}
	return m, nil, nil
}

// loadDir reads the document of directory path (for messages), checked
// against its ID and against the stat its parent recorded for it.
func loadDir(ctx context.Context, st store.Store, id ID, stat *ID, path string) (*dirDoc, error) {
	data, err := readObject(ctx, st, dirKey(id), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load %s: %w: the document of the directory (%s) is missing", path, ErrChunkMissing, id.Short())
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: directory document %s: %w", path, id.Short(), err)
	}
	d, err := decodeDir(data)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if stat != nil && statOf(d.Entries) != *stat {
		return nil, fmt.Errorf("load %s: %w: the directory's stat does not match its document", path, ErrInvalidManifest)
	}
	return d, nil
}

// walkTree calls fn with every entry of tree id, a directory before what it
// holds, with paths relative to the root. Directory entries of format 2
// trees carry Tree and Stat. When enter is set, it is called with each
// directory document's ID before it is read; false skips what it holds.
// Only the documents of the directories on the way down are held.
func walkTree(ctx context.Context, st store.Store, id ID, enter func(ID) bool, fn func(*Entry) error) error {
	flat, root, err := loadRoot(ctx, st, id)
	if err != nil {
		return err
	}
	return walkRoot(ctx, st, flat, root, enter, fn)
}

// walkRoot is walkTree over a root loadRoot returned.
func walkRoot(ctx context.Context, st store.Store, flat *Manifest, root *dirDoc, enter func(ID) bool, fn func(*Entry) error) error {
	if flat != nil {
		for i := range flat.Entries {
			if err := fn(&flat.Entries[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return walkDir(ctx, st, root, "", enter, fn)
}

func walkDir(ctx context.Context, st store.Store, d *dirDoc, prefix string, enter func(ID) bool, fn func(*Entry) error) error {
	for i := range d.Entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := d.Entries[i]
		e.Path = prefix + e.Path
		path, tree, stat := e.Path, e.Tree, e.Stat // fn may change e
		if err := fn(&e); err != nil {
			return err
		}
		if tree == nil || (enter != nil && !enter(*tree)) {
			continue
		}
		sub, err := loadDir(ctx, st, *tree, stat, path)
		if err != nil {
			return err
		}
		if err := walkDir(ctx, st, sub, path+"/", enter, fn); err != nil {
			return err
		}
	}
	return nil
}

// Walk calls fn with every entry of tree id, checked, a directory before
// what it holds, with paths relative to the root; in bounded memory
// whatever the tree's size. The entry is fn's to keep.
func Walk(ctx context.Context, st store.Store, id ID, fn func(*Entry) error) error {
	return walkTree(ctx, st, id, nil, func(e *Entry) error {
		e.Tree, e.Stat = nil, nil
		return fn(e)
	})
}

// Load reads tree id whole, as one flat Manifest sorted by path, checking
// every document against its digest and validating it. For trees too large
// to hold, use Walk.
func Load(ctx context.Context, st store.Store, id ID) (*Manifest, error) {
	m := &Manifest{Version: ManifestVersion}
	err := Walk(ctx, st, id, func(e *Entry) error {
		m.Entries = append(m.Entries, *e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A walk visits "a/b" before "a-b"; a Manifest sorts by the path string.
	sort.Slice(m.Entries, func(i, j int) bool { return m.Entries[i].Path < m.Entries[j].Path })
	return m, nil
}
