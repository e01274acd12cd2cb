package tree

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"testing"
	"time"
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

// smallFilesTree writes the dataset shape of hack/bench: n files of size
// bytes each, 1,000 to a directory.
func smallFilesTree(b *testing.B, n, size int) (dir string, bytes int64) {
	b.Helper()
	dir = b.TempDir()
	for i := range n {
		writeFile(b, dir, fmt.Sprintf("d%03d/f%05d", i/1000, i), randBytes(int64(i), size), 0o644, epoch)
		bytes += int64(size)
	}
	return dir, bytes
}

// BenchmarkPushSmallFiles is the 20,000 × 4 KiB dataset shape: a first
// push into an empty bucket on the real MinIO.
func BenchmarkPushSmallFiles(b *testing.B) {
	benchMemoryLimit(b)
	dir, n := smallFilesTree(b, 20000, 4<<10)
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

// BenchmarkPullSmallFiles pulls the 20,000 × 4 KiB shape into an empty
// directory.
func BenchmarkPullSmallFiles(b *testing.B) {
	benchMemoryLimit(b)
	dir, n := smallFilesTree(b, 20000, 4<<10)
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

// BenchmarkPushIntoFullStore pushes 2,000 × 4 KiB files into an empty
// bucket and into one already holding thousands of chunks (packed and
// single): the two must cost the same, since a push never lists chunks.
func BenchmarkPushIntoFullStore(b *testing.B) {
	benchMemoryLimit(b)
	dir, n := smallFilesTree(b, 2000, 4<<10)
	for _, full := range []bool{false, true} {
		b.Run(map[bool]string{false: "empty", true: "full"}[full], func(b *testing.B) {
			st := minioStore(b)
			if full {
				fillStore(b, st, 10, 1000, 5000)
			}
			b.SetBytes(n)
			b.ResetTimer()
			for range b.N {
				if _, err := Push(context.Background(), st, dir, PushOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPackSize pushes and pulls the 20,000 × 4 KiB shape with packs
// of several sizes, to choose packSize.
func BenchmarkPackSize(b *testing.B) {
	benchMemoryLimit(b)
	dir, n := smallFilesTree(b, 20000, 4<<10)
	old := packSize
	b.Cleanup(func() { packSize = old })
	for _, size := range []int{1 << 20, 4 << 20, 16 << 20} {
		packSize = size
		var id ID
		st := minioStore(b)
		b.Run(fmt.Sprintf("push-%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(n)
			for range b.N {
				b.StopTimer()
				st = minioStore(b)
				b.StartTimer()
				res, err := Push(context.Background(), st, dir, PushOptions{})
				if err != nil {
					b.Fatal(err)
				}
				id = res.ID
			}
		})
		b.Run(fmt.Sprintf("pull-%dMiB", size>>20), func(b *testing.B) {
			out := b.TempDir()
			b.SetBytes(n)
			for i := range b.N {
				if _, err := Pull(context.Background(), st, id, filepath.Join(out, fmt.Sprint(i)), PullOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// manyTinyFiles writes n files of 64 bytes, 1,000 to a directory: hack/bench's
// scale run in small.
func manyTinyFiles(b *testing.B, n int) string {
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
	dir := manyTinyFiles(b, 20_000)
	st, err := storeFromDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Push(context.Background(), st, dir, PushOptions{Name: "many"}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for range b.N {
		res, err := Push(context.Background(), st, dir, PushOptions{Name: "many"})
		if err != nil || res.BytesRead != 0 || res.DirsUploaded != 0 {
			b.Fatalf("no-op push: %+v, %v", res, err)
		}
	}
	// CPU time (user + system) holds better than wall time on a loaded
	// machine, where the walk mostly waits for a core.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
