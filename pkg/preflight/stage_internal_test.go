package preflight

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A stage directory that is a symlink is checked where it points.
func TestStageSymlink(t *testing.T) {
	real := t.TempDir()
	for _, f := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(real, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	c := checkStageDir(context.Background(), link)
	if c.Status != OK || !strings.Contains(c.Detail, "2 entries") || !strings.Contains(c.Detail, real) {
		t.Errorf("symlinked stage dir: %+v, want OK with 2 entries naming %s", c, real)
	}
}
