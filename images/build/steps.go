package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// stepName is what a step directory may be called: its name becomes the last
// path component of an image reference, so it must be a valid one.
var stepName = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// Discover returns the names of the step directories under root/steps,
// sorted. Every directory there must hold a `package main` with a func main:
// a step that is not finished yet fails the build naming its directory rather
// than silently shipping without an image. Directories Go itself ignores
// (names starting with "." or "_", and testdata) are skipped.
func Discover(root string) ([]string, error) {
	dir := filepath.Join(root, "steps")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list steps: %w", err)
	}
	var steps []string
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" {
			continue
		}
		if !stepName.MatchString(name) {
			return nil, fmt.Errorf("step directory steps/%s: name is not a valid image name (lower-case letters, digits, '.', '_', '-')", name)
		}
		if err := checkMain(filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("step directory steps/%s: %w", name, err)
		}
		steps = append(steps, name)
	}
	sort.Strings(steps)
	return steps, nil
}

// checkMain reports whether dir's non-test Go files form a main package with
// a main function.
func checkMain(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	sawGo := false
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		sawGo = true
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse: %w", err)
		}
		if f.Name.Name != "main" {
			return fmt.Errorf("%s is package %s, want package main", filepath.Base(path), f.Name.Name)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "main" {
				return nil
			}
		}
	}
	if !sawGo {
		return fmt.Errorf("no Go files yet; add main.go (package main) or remove the directory")
	}
	return fmt.Errorf("package main has no func main yet")
}
