package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the module root, two levels above this package.
const repoRoot = "../.."

// imageRef matches an mlstate image in YAML; the tag is captured only when
// it is literal (a templated tag such as {{...}} is left unchecked).
var imageRef = regexp.MustCompile(`ghcr\.io/mlstate/([a-z0-9][a-z0-9._-]*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]*))?`)

// TestBuilderCoversStepsAndTemplates checks that the builder builds an image
// for every directory under steps/ and that every image a WorkflowTemplate
// or example references is one of them, with the tag of this VERSION.
func TestBuilderCoversStepsAndTemplates(t *testing.T) {
	steps, err := Discover(repoRoot)
	if err != nil {
		t.Fatalf("builder's step list: %v", err)
	}
	entries, err := os.ReadDir(filepath.Join(repoRoot, "steps"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) == 0 {
		t.Fatal("steps/ holds no step directories")
	}
	if !slices.Equal(steps, dirs) {
		t.Fatalf("builder builds %v, but steps/ holds %v", steps, dirs)
	}
	m, err := meta(repoRoot, "ghcr.io/mlstate", "")
	if err != nil {
		t.Fatal(err)
	}
	refs := 0
	for _, dir := range []string{"workflowtemplates", "examples"} {
		refs += checkYAMLRefs(t, filepath.Join(repoRoot, dir), steps, m.Tag)
	}
	t.Logf("%d steps; %d image references in workflowtemplates/ and examples/", len(steps), refs)
}

// checkYAMLRefs checks every mlstate image reference in the YAML under dir
// and returns how many it saw. A missing dir holds none.
func checkYAMLRefs(t *testing.T, dir string, steps []string, tag string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if os.IsNotExist(err) && path == dir {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range imageRef.FindAllStringSubmatch(string(data), -1) {
			n++
			if !slices.Contains(steps, m[1]) {
				t.Errorf("%s references %s, but no step %q is built (steps: %v)", path, m[0], m[1], steps)
			}
			if m[2] != "" && m[2] != tag {
				t.Errorf("%s references %s; the builder tags %s (VERSION file)", path, m[0], tag)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
