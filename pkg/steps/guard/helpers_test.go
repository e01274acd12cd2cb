package guard_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlstate/mlstate/pkg/steps/guard"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

type result struct {
	code           int
	stdout, stderr string
	values         map[string]any // the JSON result line
}

// runGuard runs the guard step in-process with args (after "guard").
func runGuard(t *testing.T, args ...string) result {
	t.Helper()
	r := testsupport.RunStep(context.Background(), t, guard.App(), args...)
	return result{code: r.Code, stdout: r.Stdout, stderr: r.Stderr, values: r.Values}
}

func fileStore(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return "file://" + dir
}

func readOutput(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
