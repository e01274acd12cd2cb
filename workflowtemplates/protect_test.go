package workflowtemplates

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	beforeFile = "examples/argo/train.yaml"
	afterFile  = "examples/argo/guarded-training.yaml"
	argoReadme = "examples/argo/README.md"
	maxAdded   = 10
)

// manifestLines returns a file's lines from its first non-comment line on.
func manifestLines(t *testing.T, rel string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for len(lines) > 0 && (strings.HasPrefix(lines[0], "#") || strings.TrimSpace(lines[0]) == "") {
		lines = lines[1:]
	}
	return lines
}

// lineDiff returns the lines only in a (removed) and only in b (added),
// from a longest common subsequence.
func lineDiff(a, b []string) (removed, added []string) {
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			removed, i = append(removed, a[i]), i+1
		default:
			added, j = append(added, b[j]), j+1
		}
	}
	return append(removed, a[i:]...), append(added, b[j:]...)
}

var diffBlock = regexp.MustCompile("(?s)```diff\n(.*?)```")

// Protecting an existing Workflow takes at most 10 added lines and no
// changed ones: guarded-training.yaml is train.yaml plus those lines, both
// pass Argo's validator with the templates (TestArgoValidator checks every
// example), and the README shows exactly those lines.
func TestProtectionIsShort(t *testing.T) {
	before, after := manifestLines(t, beforeFile), manifestLines(t, afterFile)
	removed, added := lineDiff(before, after)
	if len(removed) > 0 {
		t.Errorf("%s changes lines of %s instead of only adding: %q", afterFile, beforeFile, removed)
	}
	if len(added) == 0 || len(added) > maxAdded {
		t.Errorf("%s adds %d lines to %s, want 1 to %d: %q", afterFile, len(added), beforeFile, maxAdded, added)
	}

	readme, err := os.ReadFile(filepath.Join(repoRoot(t), argoReadme))
	if err != nil {
		t.Fatal(err)
	}
	m := diffBlock.FindSubmatch(readme)
	if m == nil {
		t.Fatalf("%s has no ```diff block showing the protection", argoReadme)
	}
	var shown []string
	for _, l := range strings.Split(string(m[1]), "\n") {
		if strings.HasPrefix(l, "+") {
			shown = append(shown, l[1:])
		}
		if strings.HasPrefix(l, "-") {
			t.Errorf("%s: the diff removes a line: %q", argoReadme, l)
		}
	}
	if strings.Join(shown, "\n") != strings.Join(added, "\n") {
		t.Errorf("%s's diff adds\n%s\nbut %s adds\n%s", argoReadme, strings.Join(shown, "\n"), afterFile, strings.Join(added, "\n"))
	}

	// Both files are real Argo Workflows that validate with the templates.
	docs := loadDocs(t)
	seen := 0
	for _, d := range docs {
		if d.path == beforeFile || d.path == afterFile {
			seen++
		}
	}
	if seen != 2 {
		t.Fatalf("found %d of %s and %s among the validated files", seen, beforeFile, afterFile)
	}
	for _, err := range lintArgo(docs) {
		if strings.HasPrefix(err.Error(), beforeFile) || strings.HasPrefix(err.Error(), afterFile) {
			t.Error(err)
		}
	}
}

func TestLineDiff(t *testing.T) {
	rem, add := lineDiff([]string{"a", "b", "c"}, []string{"a", "x", "b", "c", "y"})
	if len(rem) != 0 || strings.Join(add, ",") != "x,y" {
		t.Errorf("removed %q added %q, want none and x,y", rem, add)
	}
	rem, add = lineDiff([]string{"a", "b"}, []string{"a", "c"})
	if strings.Join(rem, ",") != "b" || strings.Join(add, ",") != "c" {
		t.Errorf("removed %q added %q, want b and c", rem, add)
	}
}
