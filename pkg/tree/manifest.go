package tree

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// Entry types.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
)

// ManifestVersion is the format of a flat Manifest: how trees were stored
// before format 2 (dirdoc.go), and how Load returns a whole tree.
const ManifestVersion = 1

// Manifest describes a tree: every file, directory and symlink under the
// root (the root itself is not an entry), sorted by path. Pushes store
// trees as one document per directory (dirdoc.go); Load assembles them
// into a Manifest, Walk streams them.
type Manifest struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}

// Entry is one path in a tree. Paths are slash-separated and relative.
type Entry struct {
	Path   string  `json:"path"`
	Type   string  `json:"type"`
	Mode   uint32  `json:"mode"`             // Unix permission bits (07777) incl. setuid, setgid, sticky
	Size   int64   `json:"size,omitempty"`   // files: total bytes
	MTime  int64   `json:"mtime"`            // Unix nanoseconds
	Target string  `json:"target,omitempty"` // symlinks
	Chunks []Chunk `json:"chunks,omitempty"` // files: content in order
	// Tree and Stat are set on directories in a format 2 directory
	// document only (see dirdoc.go): the ID of the document of the
	// directory's contents and the digest a push compares. Load and Walk
	// return entries without them.
	Tree *ID `json:"tree,omitempty"`
	Stat *ID `json:"stat,omitempty"`
}

// Chunk is a piece of a file's content.
type Chunk struct {
	Digest ID    `json:"digest"`
	Size   int64 `json:"size"`
}

// Encode returns the canonical bytes of m: the ID of a tree is the SHA-256
// of exactly these bytes. It refuses an invalid manifest.
func (m *Manifest) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeManifest parses and validates manifest bytes.
func DecodeManifest(data []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrInvalidManifest)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks that m is safe to restore: a known version, clean relative
// paths in strictly increasing order (so no duplicates), every parent a
// directory entry (so no path passes through a symlink or file), and
// consistent sizes.
func (m *Manifest) Validate() error {
	if m.Version != ManifestVersion {
		return fmt.Errorf("%w: version %d, this build reads %d", ErrInvalidManifest, m.Version, ManifestVersion)
	}
	types := make(map[string]string, len(m.Entries))
	prev := ""
	for i := range m.Entries {
		e := &m.Entries[i]
		if err := CheckPath(e.Path); err != nil {
			return err
		}
		if i > 0 && e.Path <= prev {
			if e.Path == prev {
				return fmt.Errorf("%w: duplicate entry %q", ErrInvalidManifest, e.Path)
			}
			return fmt.Errorf("%w: entries not sorted at %q", ErrInvalidManifest, e.Path)
		}
		prev = e.Path
		if dir := path.Dir(e.Path); dir != "." {
			switch types[dir] {
			case TypeDir:
			case "":
				return fmt.Errorf("%w: %q has no parent directory entry", ErrInvalidManifest, e.Path)
			default:
				return fmt.Errorf("%w: %q passes through %s %q", ErrInvalidManifest, e.Path, types[dir], dir)
			}
		}
		if e.Tree != nil || e.Stat != nil {
			return fmt.Errorf("%w: %q: a format %d manifest names no directory documents", ErrInvalidManifest, e.Path, ManifestVersion)
		}
		if err := e.validate(); err != nil {
			return err
		}
		types[e.Path] = e.Type
	}
	return nil
}

func (e *Entry) validate() error {
	bad := func(why string) error { return fmt.Errorf("%w: %q: %s", ErrInvalidManifest, e.Path, why) }
	if e.Mode&^0o7777 != 0 {
		return bad("mode has bits outside 07777")
	}
	switch e.Type {
	case TypeFile:
		var sum int64
		for _, c := range e.Chunks {
			if c.Size <= 0 {
				return bad("chunk of size <= 0")
			}
			sum += c.Size
		}
		if e.Size != sum || e.Target != "" {
			return bad("size does not match its chunks")
		}
	case TypeDir:
		if e.Size != 0 || len(e.Chunks) != 0 || e.Target != "" {
			return bad("a directory has no content")
		}
	case TypeSymlink:
		if e.Target == "" || strings.ContainsRune(e.Target, 0) || e.Size != 0 || len(e.Chunks) != 0 {
			return bad("a symlink needs a target and nothing else")
		}
	default:
		return bad(fmt.Sprintf("unknown type %q", e.Type))
	}
	return nil
}

// CheckPath accepts a clean, relative, slash-separated path that stays
// inside the root: not empty, no leading "/", no "", "." or ".." segment, no
// NUL byte.
func CheckPath(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty path", ErrInvalidManifest)
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("%w: absolute path %q", ErrInvalidManifest, p)
	}
	if strings.ContainsRune(p, 0) {
		return fmt.Errorf("%w: NUL byte in path %q", ErrInvalidManifest, p)
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "..":
			return fmt.Errorf("%w: %q has a \"..\" segment", ErrInvalidManifest, p)
		case "", ".":
			return fmt.Errorf("%w: %q is not a clean path", ErrInvalidManifest, p)
		}
	}
	return nil
}

// Files counts file entries and their bytes.
func (m *Manifest) Files() (files, bytes int64) {
	for _, e := range m.Entries {
		if e.Type == TypeFile {
			files++
			bytes += e.Size
		}
	}
	return files, bytes
}
