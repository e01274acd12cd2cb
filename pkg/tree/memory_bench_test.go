package tree

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkManyFilesMemory pushes MLSTATE_BENCH_FILES tiny files (default
// 100,000; 1,000 to a directory) into a file store and pulls them back,
// reporting each one's peak live Go heap, sampled every 10 ms. With
// MLSTATE_BENCH_HEAP=prefix set, it writes the heap profile at each
// phase's peak to prefix-push.pprof and prefix-pull.pprof: what holds the
// memory of a million-file push (go tool pprof -sample_index inuse_space).
func BenchmarkManyFilesMemory(b *testing.B) {
	benchMemoryLimit(b)
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("MLSTATE_BENCH_FILES")); err == nil && v > 0 {
		n = v
	}
	dir := manyTinyFiles(b, n)
	prefix := os.Getenv("MLSTATE_BENCH_HEAP")
	b.ResetTimer()
	for range b.N {
		st, err := storeFromDir(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		var res PushResult
		push := peakHeap(b, prefix, "push", func() { res, err = Push(context.Background(), st, dir, PushOptions{}) })
		if err != nil {
			b.Fatal(err)
		}
		pull := peakHeap(b, prefix, "pull", func() {
			_, err = Pull(context.Background(), st, res.ID, filepath.Join(b.TempDir(), "out"), PullOptions{})
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(push>>20), "push-peak-heap-MiB")
		b.ReportMetric(float64(pull>>20), "pull-peak-heap-MiB")
	}
}

// peakHeap runs fn and returns the most live heap seen while it ran.
func peakHeap(b *testing.B, prefix, phase string, fn func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak, profiled uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			v := sample[0].Value.Uint64()
			peak = max(peak, v)
			if prefix != "" && v > profiled+profiled/20 {
				profiled = v
				if f, err := os.Create(fmt.Sprintf("%s-%s.pprof", prefix, phase)); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return peak
}
