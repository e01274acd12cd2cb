package pack

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"
)

// BenchmarkIndexMillion builds, encodes, decodes and queries the index of
// a million-chunk tree (packs of 65,536 chunks of 64 bytes, as the
// 1,000,000-file scale run stores), reporting the live heap the decoded
// index holds: what a pull of such a tree keeps for its whole run.
func BenchmarkIndexMillion(b *testing.B) {
	const n = 1 << 20
	digestOf := func(i int) ID {
		var d ID
		binary.LittleEndian.PutUint64(d[:], uint64(i)*0x9e3779b97f4a7c15)
		binary.LittleEndian.PutUint64(d[8:], uint64(i))
		return d
	}
	for range b.N {
		var ib IndexBuilder
		for p := range n / 65536 {
			parts := make([]Part, 65536)
			for j := range parts {
				parts[j] = Part{Digest: digestOf(p*65536 + j), Off: int64(j) * 64, Len: 64}
			}
			ib.AddPack(digestOf(-p-1), parts)
		}
		data := ib.Index().Encode()
		before := liveHeap()
		ix, err := ReadIndex(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		held := liveHeap() - before
		runtime.KeepAlive(data) // counted in before: keep it out of held
		for i := range n {
			if _, ok := ix.Lookup(digestOf(i)); !ok {
				b.Fatalf("chunk %d not found", i)
			}
		}
		b.ReportMetric(float64(len(data))/(1<<20), "encoded-MiB")
		b.ReportMetric(float64(held)/(1<<20), "decoded-heap-MiB")
		runtime.KeepAlive(ix)
	}
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
