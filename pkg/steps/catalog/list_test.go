package catalog_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlstate/mlstate/pkg/catalog"
	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/testsupport"
	"github.com/mlstate/mlstate/pkg/tree"
)

func TestListShowDiff(t *testing.T) {
	b := minioBackend(t)
	dir := filepath.Join(t.TempDir(), "ckpt")
	testsupport.WriteFiles(t, dir, map[string]string{"a.txt": "one", "b.txt": "two", "sub/c.txt": "three"})
	rp1 := take(t, b.st, "train", dir)
	testsupport.WriteFiles(t, dir, map[string]string{"a.txt": "ONE", "sub/c.txt": "three", "d.txt": "four", "e.bin": random(1000, 1)})
	rp2 := take(t, b.st, "train", dir)
	common := []string{"--store", b.url, "--pipeline", "train"}

	t.Run("list table", func(t *testing.T) {
		r := runCatalog(t, append([]string{"list"}, common...)...)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || len(lines) != 3 {
			t.Fatalf("exit %d, %d lines; want 0 and a header plus two rows", r.code, len(lines))
		}
		if !strings.HasPrefix(lines[0], "RESTORE POINT") || !strings.HasPrefix(lines[1], rp2.ID) || !strings.HasPrefix(lines[2], rp1.ID) {
			t.Fatalf("want a header, then %s (newest), then %s", rp2.ID, rp1.ID)
		}
		if !strings.Contains(lines[1], "train-run") || !strings.Contains(lines[1], "1012 B") {
			t.Errorf("row lacks the workflow or the staged bytes (3+5+4+1000 = 1012 B): %q", lines[1])
		}
	})
	t.Run("list json", func(t *testing.T) {
		r := runCatalog(t, append([]string{"list", "-o", "json"}, common...)...)
		var rows []catalog.Summary
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[0].ID != rp2.ID || rows[1].ID != rp1.ID || rows[0].Files != 4 || rows[1].StagedBytes != 11 {
			t.Fatalf("rows %+v", rows)
		}
	})
	t.Run("list yaml", func(t *testing.T) {
		r := runCatalog(t, append([]string{"list", "--output", "yaml"}, common...)...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "- created: ") || !strings.Contains(r.stdout, "id: "+rp1.ID) {
			t.Fatalf("yaml list:\n%s", r.stdout)
		}
	})
	t.Run("list empty pipeline", func(t *testing.T) {
		r := runCatalog(t, "list", "--store", b.url, "--pipeline", "nothing-here")
		if r.code != 0 || !strings.Contains(r.stdout, "pipeline nothing-here has no restore points") {
			t.Fatalf("exit %d, %q", r.code, r.stdout)
		}
	})
	t.Run("show", func(t *testing.T) {
		r := runCatalog(t, append(append([]string{"show", "-o", "json"}, common...), rp1.ID)...)
		var rec restorepoint.Record
		if err := json.Unmarshal([]byte(r.stdout), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.ID != rp1.ID || len(rec.Trees) != 1 || rec.Trees[0].Path != dir || rec.Trees[0].Tree != rp1.Trees[0].Tree {
			t.Fatalf("show returned %+v", rec)
		}
		r = runCatalog(t, append(append([]string{"show"}, common...), rp1.ID)...)
		if !strings.Contains(r.stdout, "pipeline: train\n") || !strings.Contains(r.stdout, "tree: "+rp1.Trees[0].Tree) {
			t.Fatalf("yaml show:\n%s", r.stdout)
		}
	})
	t.Run("show missing", func(t *testing.T) {
		r := runCatalog(t, append(append([]string{"show"}, common...), "rp-20200101-000000.000-abcdef")...)
		if r.code != exitcode.Precondition || !strings.Contains(r.stderr, "not found") {
			t.Fatalf("exit %d, %q", r.code, r.stderr)
		}
		r = runCatalog(t, append(append([]string{"show"}, common...), "latest")...)
		if r.code != exitcode.Usage {
			t.Fatalf("malformed ID: exit %d", r.code)
		}
	})
	t.Run("diff table", func(t *testing.T) {
		r := runCatalog(t, append(append([]string{"diff"}, common...), rp1.ID, rp2.ID)...)
		want := dir + ":\n~ a.txt\n- b.txt\n+ d.txt\n+ e.bin\n"
		if r.code != 0 || r.stdout != want {
			t.Fatalf("diff:\n%s\nwant:\n%s", r.stdout, want)
		}
	})
	t.Run("diff json", func(t *testing.T) {
		r := runCatalog(t, append(append([]string{"diff", "-o", "json"}, common...), rp2.ID, rp1.ID)...)
		var diffs []catalog.PathDiff
		if err := json.Unmarshal([]byte(r.stdout), &diffs); err != nil {
			t.Fatal(err)
		}
		kinds := map[string]string{}
		for _, c := range diffs[0].Changes {
			kinds[c.Path] = c.Kind
		}
		if len(diffs) != 1 || kinds["a.txt"] != tree.Changed || kinds["b.txt"] != tree.Added || kinds["d.txt"] != tree.Removed || len(kinds) != 4 {
			t.Fatalf("reverse diff %+v", diffs)
		}
	})
	t.Run("diff same", func(t *testing.T) {
		r := runCatalog(t, append(append([]string{"diff"}, common...), rp1.ID, rp1.ID)...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "no staged file differs") {
			t.Fatalf("exit %d, %q", r.code, r.stdout)
		}
	})
	t.Run("diff usage", func(t *testing.T) {
		if r := runCatalog(t, append(append([]string{"diff"}, common...), rp1.ID)...); r.code != exitcode.Usage {
			t.Fatalf("one ID: exit %d", r.code)
		}
		r := runCatalog(t, "show", rp1.ID, "--store", b.url)
		if r.code != exitcode.Usage || !strings.Contains(r.stderr, "flag --store after the arguments: flags go first") {
			t.Fatalf("flag after the ID: exit %d, %q", r.code, r.stderr)
		}
	})
}
