package tree

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func chunk(b byte, size int64) Chunk { return Chunk{Digest: ID{b}, Size: size} }

func TestValidate(t *testing.T) {
	file := func(p string) Entry {
		return Entry{Path: p, Type: TypeFile, Mode: 0o644, Size: 3, Chunks: []Chunk{chunk(1, 3)}}
	}
	dir := func(p string) Entry { return Entry{Path: p, Type: TypeDir, Mode: 0o755} }
	link := func(p string) Entry { return Entry{Path: p, Type: TypeSymlink, Mode: 0o777, Target: "x"} }
	cases := []struct {
		name    string
		entries []Entry
		bad     string // substring of the error; "" = valid
	}{
		{"empty tree", nil, ""},
		{"nested", []Entry{dir("a"), file("a/b"), link("a/c"), file("a-b")}, "not sorted"},
		{"sorted nested", []Entry{dir("a"), file("a-b"), file("a/b"), link("a/c")}, ""},
		{"absolute", []Entry{file("/etc/passwd")}, "absolute"},
		{"dotdot", []Entry{dir("a"), file("a/../../x")}, `".."`},
		{"leading dotdot", []Entry{file("../x")}, `".."`},
		{"dot segment", []Entry{dir("a"), file("a/./b")}, "clean"},
		{"empty segment", []Entry{dir("a"), file("a//b")}, "clean"},
		{"trailing slash", []Entry{dir("a/")}, "clean"},
		{"empty path", []Entry{{Type: TypeDir}}, "empty path"},
		{"duplicate", []Entry{file("a"), file("a")}, "duplicate"},
		{"duplicate types", []Entry{dir("a"), file("a")}, "duplicate"},
		{"through symlink", []Entry{link("a"), file("a/b")}, "passes through symlink"},
		{"through file", []Entry{file("a"), file("a/b")}, "passes through file"},
		{"no parent", []Entry{file("a/b")}, "no parent"},
		{"size mismatch", []Entry{{Path: "a", Type: TypeFile, Size: 4, Chunks: []Chunk{chunk(1, 3)}}}, "size"},
		{"zero chunk", []Entry{{Path: "a", Type: TypeFile, Chunks: []Chunk{chunk(1, 0)}}}, "size <= 0"},
		{"empty file", []Entry{{Path: "a", Type: TypeFile}}, ""},
		{"dir with content", []Entry{{Path: "a", Type: TypeDir, Size: 1}}, "no content"},
		{"symlink without target", []Entry{{Path: "a", Type: TypeSymlink}}, "target"},
		{"unknown type", []Entry{{Path: "a", Type: "fifo"}}, "unknown type"},
		{"mode type bits", []Entry{{Path: "a", Type: TypeDir, Mode: 0o40755}}, "mode"},
		{"NUL", []Entry{{Path: "a\x00b", Type: TypeDir}}, "NUL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &Manifest{Version: ManifestVersion, Entries: c.entries}
			err := m.Validate()
			if c.bad == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("Validate = %v, want ErrInvalidManifest mentioning %q", err, c.bad)
			}
		})
	}
}

func TestEncodeDecode(t *testing.T) {
	m := &Manifest{Version: ManifestVersion, Entries: []Entry{
		{Path: "d", Type: TypeDir, Mode: 0o755, MTime: 1},
		{Path: "d/f", Type: TypeFile, Mode: 0o4755, Size: 5, MTime: 2, Chunks: []Chunk{chunk(1, 2), chunk(2, 3)}},
		{Path: "d/l", Type: TypeSymlink, Mode: 0o777, Target: "../<&>", MTime: 3},
	}}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "<&>") {
		t.Errorf("HTML escaping changes bytes: %s", data)
	}
	back, err := DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.Encode()
	if string(again) != string(data) {
		t.Errorf("encoding is not canonical:\n%s\n%s", data, again)
	}
	for _, bad := range []string{`{"version":1,"entries":[],"extra":1}`, `{"version":2,"entries":[]}`, `{"version":1}{}`, `[]`} {
		if _, err := DecodeManifest([]byte(bad)); !errors.Is(err, ErrInvalidManifest) {
			t.Errorf("DecodeManifest(%s) = %v, want ErrInvalidManifest", bad, err)
		}
	}
}

func TestParseID(t *testing.T) {
	id := Sum([]byte("x"))
	got, err := ParseID(id.String())
	if err != nil || got != id {
		t.Fatalf("ParseID(String) = %v, %v", got, err)
	}
	if len(id.Short()) != 12 || !strings.HasPrefix(id.String(), id.Short()) {
		t.Errorf("Short = %q", id.Short())
	}
	for _, s := range []string{"", "abc", strings.Repeat("g", 64), id.String() + "0"} {
		if _, err := ParseID(s); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseID(%q) = %v, want ErrInvalidID", s, err)
		}
	}
	var back ID
	b, _ := json.Marshal(id)
	if err := json.Unmarshal(b, &back); err != nil || back != id {
		t.Errorf("JSON round trip: %v %v", back, err)
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{"ds": true, "a.b_c-1": true, "": false, "-x": false, "a/b": false, ".": false, strings.Repeat("a", 129): false} {
		if err := CheckName(name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestDiff(t *testing.T) {
	a := &Manifest{Version: 1, Entries: []Entry{
		{Path: "keep", Type: TypeFile, Size: 1, Chunks: []Chunk{chunk(1, 1)}, MTime: 1},
		{Path: "mod", Type: TypeFile, Size: 1, Chunks: []Chunk{chunk(1, 1)}},
		{Path: "old", Type: TypeDir},
		{Path: "touched", Type: TypeFile, MTime: 1},
	}}
	b := &Manifest{Version: 1, Entries: []Entry{
		{Path: "keep", Type: TypeFile, Size: 1, Chunks: []Chunk{chunk(1, 1)}, MTime: 1},
		{Path: "mod", Type: TypeFile, Size: 1, Chunks: []Chunk{chunk(2, 1)}},
		{Path: "new", Type: TypeSymlink, Target: "x"},
		{Path: "touched", Type: TypeFile, MTime: 2},
	}}
	got := Diff(a, b)
	want := []Change{{Changed, "mod", TypeFile}, {Added, "new", TypeSymlink}, {Removed, "old", TypeDir}}
	if len(got) != len(want) {
		t.Fatalf("Diff = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Diff[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if n := len(Diff(nil, b)); n != len(b.Entries) {
		t.Errorf("Diff(nil, b) has %d changes, want %d", n, len(b.Entries))
	}
}
