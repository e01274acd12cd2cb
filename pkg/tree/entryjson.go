package tree

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// File names and symlink targets are bytes, and JSON strings are UTF-8:
// encoding/json would turn every invalid byte into U+FFFD, so two Latin-1
// names could collapse into one. A path or target that is valid UTF-8 is
// stored as a string ("path", "target"), exactly as manifests always were,
// so their IDs do not change; any other is stored as base64 bytes
// ("path-bytes", "target-bytes"). Each name has exactly one encoding, so a
// tree has exactly one ID. Builds older than this field refuse such a
// manifest as invalid rather than restoring wrong names.
type entryJSON struct {
	Path        string  `json:"path,omitempty"`
	PathBytes   []byte  `json:"path-bytes,omitempty"`
	Type        string  `json:"type"`
	Mode        uint32  `json:"mode"`
	Size        int64   `json:"size,omitempty"`
	MTime       int64   `json:"mtime"`
	Target      string  `json:"target,omitempty"`
	TargetBytes []byte  `json:"target-bytes,omitempty"`
	Chunks      []Chunk `json:"chunks,omitempty"`
	Tree        *ID     `json:"tree,omitempty"`
	Stat        *ID     `json:"stat,omitempty"`
}

// MarshalJSON writes e in its one canonical form.
func (e Entry) MarshalJSON() ([]byte, error) {
	j := entryJSON{Type: e.Type, Mode: e.Mode, Size: e.Size, MTime: e.MTime, Chunks: e.Chunks, Tree: e.Tree, Stat: e.Stat}
	j.Path, j.PathBytes = splitName(e.Path)
	j.Target, j.TargetBytes = splitName(e.Target)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON reads e, refusing unknown fields and any form that is not
// the canonical one.
func (e *Entry) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j entryJSON
	if err := dec.Decode(&j); err != nil {
		return err
	}
	path, err := joinName("path", j.Path, j.PathBytes)
	if err != nil {
		return err
	}
	target, err := joinName("target", j.Target, j.TargetBytes)
	if err != nil {
		return err
	}
	*e = Entry{Path: path, Type: j.Type, Mode: j.Mode, Size: j.Size, MTime: j.MTime, Target: target, Chunks: j.Chunks, Tree: j.Tree, Stat: j.Stat}
	return nil
}

func splitName(s string) (string, []byte) {
	if utf8.ValidString(s) {
		return s, nil
	}
	return "", []byte(s)
}

func joinName(field, s string, b []byte) (string, error) {
	switch {
	case b == nil:
		return s, nil
	case s != "":
		return "", fmt.Errorf("entry has both %s and %s-bytes", field, field)
	case utf8.Valid(b):
		return "", fmt.Errorf("%s-bytes %q is valid UTF-8 and belongs in %s", field, b, field)
	}
	return string(b), nil
}

// same reports whether e and o describe the same entry, field by field.
func (e *Entry) same(o *Entry) bool {
	if e.Path != o.Path || e.Type != o.Type || e.Mode != o.Mode || e.Size != o.Size ||
		e.MTime != o.MTime || e.Target != o.Target || len(e.Chunks) != len(o.Chunks) ||
		!sameID(e.Tree, o.Tree) || !sameID(e.Stat, o.Stat) {
		return false
	}
	for i := range e.Chunks {
		if e.Chunks[i] != o.Chunks[i] {
			return false
		}
	}
	return true
}

func sameID(a, b *ID) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
