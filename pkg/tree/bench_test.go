package tree

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"testing"
)

// benchMemoryLimit mirrors the stage step's soft heap limit, so the
// benchmarks see the GC pressure the step sees.
func benchMemoryLimit(b *testing.B) {
	old := debug.SetMemoryLimit(160 << 20)
	b.Cleanup(func() { debug.SetMemoryLimit(old) })
}

// benchTree writes a small version of hack/bench's ML-like tree: many
// 100 KiB shards and a few large checkpoints.
func benchTree(b *testing.B) (dir string, bytes int64) {
	b.Helper()
	dir = b.TempDir()
	for i := range 200 {
		writeFile(b, dir, fmt.Sprintf("data/shard-%05d", i), randBytes(int64(i), 100<<10), 0o644, epoch)
		bytes += 100 << 10
	}
	for i := range 2 {
		writeFile(b, dir, fmt.Sprintf("ckpt/model-%d.bin", i), randBytes(int64(1000+i), 64<<20), 0o644, epoch)
		bytes += 64 << 20
	}
	return dir, bytes
}

// BenchmarkPush measures a first push into an empty bucket on the real MinIO.
func BenchmarkPush(b *testing.B) {
	benchMemoryLimit(b)
	dir, n := benchTree(b)
	b.SetBytes(n)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		st := minioStore(b)
		b.StartTimer()
		if _, err := Push(context.Background(), st, dir, PushOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPull measures a pull into an empty directory from the real MinIO.
func BenchmarkPull(b *testing.B) {
	benchMemoryLimit(b)
	dir, n := benchTree(b)
	st := minioStore(b)
	res, err := Push(context.Background(), st, dir, PushOptions{})
	if err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	b.SetBytes(n)
	b.ResetTimer()
	for i := range b.N {
		if _, err := Pull(context.Background(), st, res.ID, filepath.Join(out, fmt.Sprint(i)), PullOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// manyFiles writes n files of 64 bytes, 1,000 to a directory: hack/bench's
// scale run in small.
func manyFiles(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	for i := range n {
		writeFile(b, dir, fmt.Sprintf("data/part-%04d/rec-%07d", i/1000, i), randBytes(int64(i), 64), 0o644, epoch)
	}
	return dir
}

// BenchmarkNoopPushManyFiles measures a no-op push of 20,000 files into a
// file store: what an unchanged file costs (a stat), with -cpuprofile
// showing where. Per op: one push of the whole tree.
func BenchmarkNoopPushManyFiles(b *testing.B) {
	benchMemoryLimit(b)
	dir := manyFiles(b, 20_000)
	st, err := storeFromDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Push(context.Background(), st, dir, PushOptions{Name: "many"}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		res, err := Push(context.Background(), st, dir, PushOptions{Name: "many"})
		if err != nil || res.BytesRead != 0 || res.DirsUploaded != 0 {
			b.Fatalf("no-op push: %+v, %v", res, err)
		}
	}
}
