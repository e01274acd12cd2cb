package catalog_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/snapshot"
	"github.com/mlstate/mlstate/pkg/steps/catalog"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

func TestMain(m *testing.M) { testsupport.Main(m) }

type result struct {
	code           int
	stdout, stderr string
}

// runCatalog runs the catalog step in-process with args (after "catalog").
func runCatalog(t *testing.T, args ...string) result {
	t.Helper()
	r := testsupport.RunStep(context.Background(), t, catalog.App(), args...)
	return result{code: r.Code, stdout: r.Stdout, stderr: r.Stderr}
}

// backend is a store for a test, by URL and opened.
type backend struct {
	url string
	st  store.Store
	dir string // the file store's directory; "" for MinIO
}

func fileBackend(t *testing.T) backend {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return open(t, "file://"+dir, dir)
}

func minioBackend(t *testing.T) backend {
	t.Helper()
	s := testsupport.MinIO(t)
	s.SetEnv(t)
	return open(t, s.StoreURL(t, "catalog"), "")
}

func open(t *testing.T, url, dir string) backend {
	t.Helper()
	st, err := storeurl.Open(context.Background(), url, storeurl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return backend{url: url, st: st, dir: dir}
}

var backends = map[string]func(*testing.T) backend{"file": fileBackend, "minio": minioBackend}

// take snapshots dir as a restore point of pipeline.
func take(t *testing.T, st store.Store, pipeline, dir string) *restorepoint.Record {
	t.Helper()
	// Restore point IDs have millisecond resolution; keep them ordered.
	time.Sleep(3 * time.Millisecond)
	rec, err := snapshot.Take(context.Background(), st, snapshot.Options{
		Pipeline: pipeline, Stage: []string{dir}, Workflow: restorepoint.Workflow{Name: "train-run"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func ids(t *testing.T, st store.Store, pipeline string) []string {
	t.Helper()
	out, err := restorepoint.List(context.Background(), st, pipeline)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func random(n int, seed byte) string {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return string(b)
}
