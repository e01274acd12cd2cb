package tree

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
)

// A tree of a million files cannot be one document held whole in memory,
// and an unchanged directory should cost a push nothing but a stat of its
// entries. So since format 2 a tree is one document per directory:
//
//	trees/<id>               the root directory's document; id is its SHA-256
//	dirs/<2 hex>/<64 hex>    a directory's document, keyed by its SHA-256
//
// A document lists the directory's own entries by name (a single path
// segment, in byte order); a directory entry names the document of its
// contents ("tree") and a digest of that document's entries without their
// chunks ("stat"). The stat lets a push recognise an unchanged directory
// from a stat of its files, and reuse its document without reading it:
// a no-op push stores nothing but the new root. Documents are content
// addressed, so a directory unchanged between pushes (or copied elsewhere
// in the tree) is stored once.
//
// Format 1 trees (one flat Manifest under trees/) keep reading.
const dirVersion = 2

// dirDoc is one directory's document (format 2).
type dirDoc struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}

func dirKey(id ID) string {
	s := id.String()
	return "dirs/" + s[:2] + "/" + s
}

// encodeDir returns the canonical bytes of a directory document, checked to
// read back as itself: a name the encoding cannot carry fails the push
// instead of every later pull.
func encodeDir(entries []Entry) ([]byte, error) {
	d := dirDoc{Version: dirVersion, Entries: entries}
	if d.Entries == nil {
		d.Entries = []Entry{}
	}
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("encode directory: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&d); err != nil {
		return nil, fmt.Errorf("encode directory: %w", err)
	}
	back, err := decodeDir(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("encode directory: it does not read back: %w", err)
	}
	if len(back.Entries) != len(entries) {
		return nil, fmt.Errorf("encode directory: %w: %d entries read back as %d", ErrInvalidManifest, len(entries), len(back.Entries))
	}
	for i := range entries {
		if !entries[i].same(&back.Entries[i]) {
			return nil, fmt.Errorf("encode directory: %w: %q does not read back as itself", ErrInvalidManifest, entries[i].Path)
		}
	}
	return buf.Bytes(), nil
}

func decodeDir(data []byte) (*dirDoc, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d dirDoc
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrInvalidManifest)
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// validate checks a directory document: single-segment names in strictly
// increasing byte order, every directory naming its document and stat,
// nothing else naming one, and each entry's own rules (see Entry.validate).
func (d *dirDoc) validate() error {
	if d.Version != dirVersion {
		return fmt.Errorf("%w: directory document version %d, want %d", ErrInvalidManifest, d.Version, dirVersion)
	}
	prev := ""
	for i := range d.Entries {
		e := &d.Entries[i]
		if err := CheckPath(e.Path); err != nil {
			return err
		}
		if strings.Contains(e.Path, "/") {
			return fmt.Errorf("%w: %q is not a single name", ErrInvalidManifest, e.Path)
		}
		if i > 0 && e.Path <= prev {
			if e.Path == prev {
				return fmt.Errorf("%w: duplicate entry %q", ErrInvalidManifest, e.Path)
			}
			return fmt.Errorf("%w: entries not sorted at %q", ErrInvalidManifest, e.Path)
		}
		prev = e.Path
		if (e.Type == TypeDir) != (e.Tree != nil && e.Stat != nil) || (e.Type != TypeDir && (e.Tree != nil || e.Stat != nil)) {
			return fmt.Errorf("%w: %q: a directory, and only a directory, names its contents", ErrInvalidManifest, e.Path)
		}
		if err := e.validate(); err != nil {
			return err
		}
	}
	return nil
}

// statOf digests what a push compares to tell whether a directory changed:
// each entry's name, type, mode, size, mtime, symlink target and, for a
// directory, its document's ID; not the chunks, which a push only knows
// after reading the files. Two directories with the same stat have the same
// document when their files' mtimes are trusted (see racyCutoff).
func statOf(entries []Entry) ID { return statBelow(entries, "") }

// statBelow is statOf of entries whose paths all start with prefix, as if
// they were cut to their names: the push's walk stats every directory
// without copying its entries. The fields go through one buffer, not a
// hash write each: at a million files the writes cost more than the hash.
func statBelow(entries []Entry, prefix string) ID {
	h := sha256.New()
	buf := make([]byte, 0, 32<<10)
	str := func(s string) {
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	for i := range entries {
		e := &entries[i]
		str(e.Path[len(prefix):])
		str(e.Type)
		str(e.Target)
		buf = binary.BigEndian.AppendUint64(buf, uint64(int64(e.Mode)))
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.Size))
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.MTime))
		if e.Tree != nil {
			buf = append(buf, e.Tree[:]...)
		}
		if len(buf) >= 16<<10 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	var id ID
	h.Sum(id[:0])
	return id
}
