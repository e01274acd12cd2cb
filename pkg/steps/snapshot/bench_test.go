package snapshot_test

import (
	"context"
	"testing"

	"github.com/mlstate/mlstate/pkg/steps/snapshot"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// BenchmarkSnapshotStep runs the whole snapshot step in-process against the
// envtest API server and the Kanister stand-in, whose phases finish at once,
// with a small staged workspace: the time per op is the step's own overhead
// (flag parsing, store and cluster clients, creating and watching the
// ActionSet, the record) plus a near-zero Kanister and staging time.
func BenchmarkSnapshotStep(b *testing.B) {
	c := newCluster(b)
	st := "file://" + b.TempDir()
	ws := testsupport.Workspace(b)
	args := append([]string{"--store", st, "--pipeline", "bench", "--stage", ws}, c.targets()...)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		r := testsupport.RunStep(ctx, b, snapshot.App(), args...)
		if r.Code != 0 {
			b.Fatalf("exit %d: %s", r.Code, r.Stderr)
		}
	}
}
