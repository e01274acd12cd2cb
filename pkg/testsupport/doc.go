// Package testsupport starts the real servers mlstate's integration tests run
// against, once per test package: a MinIO server on a loopback port and a
// kube-apiserver with etcd (controller-runtime's envtest) with the Kanister
// and Argo CRDs installed. It also holds the test-only Kanister stand-in
// controller (see kanister_standin.go).
//
// The server binaries are built by `make testenv` into bin/testenv. When they
// are missing a test skips with a message naming `make testenv`, except when
// the CI variable is set: then it fails, so CI can never pass by skipping.
// Under -short (`make unit`) integration tests skip without looking.
//
// A package that uses these servers calls Main from its TestMain so that they
// are torn down when its tests end:
//
//	func TestMain(m *testing.M) { testsupport.Main(m) }
package testsupport

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var (
	teardownMu sync.Mutex
	teardowns  []func()
)

// Main runs the package's tests and then stops every server they started.
func Main(m *testing.M) {
	code := m.Run()
	teardownMu.Lock()
	for i := len(teardowns) - 1; i >= 0; i-- {
		teardowns[i]()
	}
	teardownMu.Unlock()
	os.Exit(code)
}

func onTeardown(f func()) {
	teardownMu.Lock()
	defer teardownMu.Unlock()
	teardowns = append(teardowns, f)
}

// skipShort skips integration tests under -short (make unit), which asks
// for the tests that need no server; CI runs make test, without -short.
func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the test servers; skipped by -short (make unit)")
	}
}

// missing reports a test-environment binary that is not there: a failure in
// CI, a skip elsewhere.
func missing(t testing.TB, what string) {
	t.Helper()
	msg := what + " not found; run `make testenv` (builds the test servers into bin/testenv)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " [CI is set, so this fails instead of skipping]")
	}
	t.Skip(msg)
}

// RepoRoot returns the directory of mlstate's go.mod, found from the test's
// working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isMainModule(b) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find mlstate's go.mod above the working directory")
		}
		dir = parent
	}
}

func isMainModule(gomod []byte) bool {
	const want = "module github.com/mlstate/mlstate\n"
	return len(gomod) >= len(want) && string(gomod[:len(want)]) == want
}
