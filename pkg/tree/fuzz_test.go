package tree

import (
	"errors"
	"strings"
	"testing"
)

func FuzzManifestDecode(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"entries":[]}`,
		`{"version":1,"entries":[{"path":"a","type":"dir","mode":493,"mtime":1},{"path":"a/b","type":"file","mode":420,"size":3,"mtime":2,"chunks":[{"digest":"` + strings.Repeat("ab", 32) + `","size":3}]}]}`,
		`{"version":1,"entries":[{"path":"l","type":"symlink","mode":511,"mtime":0,"target":"../x"},{"path":"l/x","type":"file","mode":420,"mtime":0}]}`,
		`{"version":1,"entries":[{"path":"/etc/x","type":"file","mode":420,"mtime":0}]}`,
		`{"version":1,"entries":[{"path":"a/../b","type":"file","mode":420,"mtime":0}]}`,
		`{"version":1,"entries":[{"path":"a","type":"file","mode":420,"mtime":0},{"path":"a","type":"file","mode":420,"mtime":0}]}`,
		`{"version":1,"entries":null}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidManifest) {
				t.Fatalf("error does not match ErrInvalidManifest: %v", err)
			}
			return
		}
		// Whatever decodes is safe: every path passes CheckPath and no
		// parent is anything but a directory.
		for _, e := range m.Entries {
			if CheckPath(e.Path) != nil {
				t.Fatalf("accepted unsafe path %q", e.Path)
			}
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded manifest does not encode: %v", err)
		}
		again, err := DecodeManifest(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if enc2, _ := again.Encode(); string(enc2) != string(enc) {
			t.Fatal("encoding is not stable")
		}
	})
}

func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"a", "a/b", "/a", "..", "a/..", "a/../b", "./a", "a//b", "", "a\x00", "..a", "a..", "a/.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if CheckPath(p) != nil {
			return
		}
		if strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
			t.Fatalf("accepted %q", p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == ".." || seg == "." || seg == "" {
				t.Fatalf("accepted %q with segment %q", p, seg)
			}
		}
	})
}
