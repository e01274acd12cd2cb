package faults

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/catalog"
	"github.com/mlstate/mlstate/pkg/steps/stage"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/filestore"
	"github.com/mlstate/mlstate/pkg/store/s3store"
	"github.com/mlstate/mlstate/pkg/testsupport"
	"github.com/mlstate/mlstate/pkg/tree"
	"github.com/mlstate/mlstate/pkg/tree/pack"
)

// childEnv makes the test binary act as a step, so a test can run (and
// kill) a real `stage` or `catalog` process.
const childEnv = "MLSTATE_FAULTS_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "stage":
		stepcli.Main(stage.App())
	case "catalog":
		stepcli.Main(catalog.App())
	}
	testsupport.Main(m)
}

// tally counts one test's faults; it logs them when the test ends, so
// `go test -v` shows the suite's figures.
type tally struct {
	t        *testing.T
	injected int
}

func newTally(t *testing.T) *tally {
	c := &tally{t: t}
	t.Cleanup(func() {
		if !t.Failed() {
			t.Logf("FAULTS injected=%d survived=%d", c.injected, c.injected)
		}
	})
	return c
}

func (c *tally) add(n int) { c.injected += n }

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	r.Read(b)
	return b
}

// writeTree writes files (relative path -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for rel, data := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// sampleFiles is a small ML-like tree: one multi-chunk checkpoint and
// some small files.
func sampleFiles(seed int64, big int) map[string][]byte {
	r := rand.New(rand.NewSource(seed))
	files := map[string][]byte{"ckpt/model.bin": randomBytes(r, big)}
	for i := range 6 {
		files[filepath.Join("data", string(rune('a'+i)))] = randomBytes(r, 20<<10)
	}
	return files
}

func fileStore(t *testing.T) (store.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := filestore.New(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return st, "file://" + dir
}

func s3(t *testing.T, endpoint string, s *testsupport.MinIOServer, bucket string) store.Store {
	t.Helper()
	st, err := s3store.New(context.Background(), s3store.Config{
		Endpoint: endpoint, Bucket: bucket, AccessKey: s.AccessKey, SecretKey: s.SecretKey, MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// verified fails the test unless tree id is whole in st and pulls back
// exactly as want (a fingerprint).
func verified(t *testing.T, st store.Store, id tree.ID, want map[string]string) {
	t.Helper()
	ctx := context.Background()
	rep, err := tree.Verify(ctx, st, id)
	if err != nil || !rep.OK() {
		t.Fatalf("tree %s does not verify: %+v %v", id.Short(), rep, err)
	}
	dst := filepath.Join(t.TempDir(), "check")
	if _, err := tree.Pull(ctx, st, id, dst, tree.PullOptions{}); err != nil {
		t.Fatalf("pull %s: %v", id.Short(), err)
	}
	testsupport.SameFingerprint(t, want, testsupport.Fingerprint(t, dst))
}

// killAfter calls kill once, when more than n bytes were counted.
type killAfter struct {
	mu   sync.Mutex
	n    int64
	seen int64
	kill func()
	done bool
}

func (k *killAfter) SetTotal(int64) {}
func (k *killAfter) Add(n int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.seen += n
	if !k.done && k.seen > k.n {
		k.done = true
		k.kill()
	}
}

// indexesSound fails the test unless every pack index in st (of the trees
// in only, when only is not nil) names packs that exist and are long
// enough for every chunk it places in them. It returns how many chunk
// locations it checked.
func indexesSound(t *testing.T, st store.Store, only map[tree.ID]bool) int {
	t.Helper()
	ctx := context.Background()
	sizes := map[string]int64{}
	if err := st.List(ctx, pack.Prefix, func(i store.Info) error { sizes[i.Key] = i.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := st.List(ctx, pack.IndexPrefix, func(i store.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range keys {
		id, ok := pack.ParseIndexKey(k)
		if !ok || only != nil && !only[tree.ID(id)] {
			continue
		}
		rc, err := st.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		ix, err := pack.Decode(data)
		if err != nil {
			t.Fatalf("index %s: %v", k, err)
		}
		for d, l := range ix.All() {
			size, ok := sizes[pack.Key(l.Pack)]
			if !ok || size < l.Off+l.Len {
				t.Fatalf("index %s places chunk %x in pack %x at %d+%d, but the pack is %s", k, d[:6], l.Pack[:6], l.Off, l.Len,
					map[bool]string{false: "missing", true: fmt.Sprint(size, " bytes")}[ok])
			}
			n++
		}
	}
	return n
}

// smallFiles is n files of size bytes under dir "set", new content each
// call: a push of them fills several packs.
func smallFiles(r *rand.Rand, n, size int) map[string][]byte {
	files := map[string][]byte{}
	for i := range n {
		files[fmt.Sprintf("set/f%04d", i)] = randomBytes(r, size)
	}
	return files
}
