package tree

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlstate/mlstate/pkg/store"
)

// Latin-1 names are not UTF-8; JSON strings cannot carry them as they are.
func TestNonUTF8NamesRoundTrip(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		src := t.TempDir()
		writeFile(t, src, "caf\xe9", []byte("e acute"), 0o644, epoch)
		writeFile(t, src, "caf\xe8", []byte("e grave"), 0o644, epoch)
		writeFile(t, src, "d\xff/inner", []byte("in a Latin-1 directory"), 0o644, epoch)
		if err := os.Symlink("caf\xe9", filepath.Join(src, "link")); err != nil {
			t.Fatal(err)
		}
		want := snapshotDir(t, src)
		res := push(t, st, src, PushOptions{Name: "latin1"})
		dst := filepath.Join(t.TempDir(), "out")
		if _, err := Pull(context.Background(), st, res.ID, dst, PullOptions{}); err != nil {
			t.Fatalf("Pull: %v", err)
		}
		assertSameDir(t, want, snapshotDir(t, dst))
		// The tree is a good parent: the next push reuses every file.
		again := push(t, st, src, PushOptions{Name: "latin1"})
		if again.ID != res.ID || again.FilesReused != 3 {
			t.Errorf("second push %+v, want the same tree with 3 files reused", again)
		}
	})
}

func TestManifestBytesFields(t *testing.T) {
	m := &Manifest{Version: ManifestVersion, Entries: []Entry{
		{Path: "a\xe9", Type: TypeSymlink, Mode: 0o777, Target: "t\xe8"},
		{Path: "b", Type: TypeSymlink, Mode: 0o777, Target: "plain"},
	}}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "\ufffd") || strings.Contains(string(data), `\ufffd`) {
		t.Fatalf("encoding replaced bytes: %s", data)
	}
	back, err := DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Entries[0].Path != "a\xe9" || back.Entries[0].Target != "t\xe8" || back.Entries[1].Target != "plain" {
		t.Errorf("decoded %+v", back.Entries)
	}
	// A UTF-8 name has exactly one encoding, so a tree has one ID.
	if !strings.Contains(string(data), `"path":"b"`) {
		t.Errorf("UTF-8 path not stored as a string: %s", data)
	}
	for _, bad := range []string{
		`{"version":1,"entries":[{"path":"a","path-bytes":"YQ==","type":"dir","mode":0,"mtime":0}]}`, // both
		`{"version":1,"entries":[{"path-bytes":"YQ==","type":"dir","mode":0,"mtime":0}]}`,            // UTF-8 as bytes
		`{"version":1,"entries":[{"path":"l","type":"symlink","mode":0,"mtime":0,"target-bytes":"eA=="}]}`,
		`{"version":1,"entries":[{"path":"a","type":"dir","mode":0,"mtime":0,"bogus":1}]}`,
	} {
		if _, err := DecodeManifest([]byte(bad)); !errors.Is(err, ErrInvalidManifest) {
			t.Errorf("DecodeManifest(%s) = %v, want ErrInvalidManifest", bad, err)
		}
	}
}

// Manifests written before names were stored as bytes keep their IDs.
func TestOldManifestStillCanonical(t *testing.T) {
	old := `{"version":1,"entries":[{"path":"d","type":"dir","mode":493,"mtime":1},{"path":"d/f","type":"file","mode":420,"size":3,"mtime":2,"chunks":[{"digest":"` +
		strings.Repeat("ab", 32) + `","size":3}]},{"path":"d/l","type":"symlink","mode":511,"mtime":3,"target":"f"}]}` + "\n"
	m, err := DecodeManifest([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.Encode()
	if err != nil || string(again) != old {
		t.Errorf("re-encoded old manifest differs (%v):\n%s\n%s", err, old, again)
	}
}
