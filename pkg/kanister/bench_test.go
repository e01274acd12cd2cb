package kanister_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/mlstate/mlstate/pkg/kanister"
)

// BenchmarkCompletionLatency measures how long Run takes to return after the
// controller writes state complete. The benchmark plays the controller (a
// full Update, as Kanister does) and reports the mean time from just before
// that Update to Run's return as ms/completion (and its 95th percentile as
// p95-ms); the target is < 100 ms.
func BenchmarkCompletionLatency(b *testing.B) {
	e := setup(b, true)
	e.client.Logger = nil // keep the benchmark output readable
	ri := e.k.Dynamic.Resource(kanister.ActionSetGVR).Namespace(e.ns)
	ctx := context.Background()
	var total time.Duration
	samples := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bench-%d", i)
		running := make(chan struct{}, 1)
		type out struct {
			at  time.Time
			err error
		}
		done := make(chan out, 1)
		go func() {
			_, err := e.client.Run(ctx, e.backupRequest(name), func(p kanister.Progress) {
				if p.State == kanister.StateRunning {
					select {
					case running <- struct{}{}:
					default:
					}
				}
			})
			done <- out{time.Now(), err}
		}()
		for !exists(ctx, ri, name) {
			time.Sleep(time.Millisecond)
		}
		writeStatus(b, ri, name, kanister.StateRunning)
		<-running
		t0 := writeStatus(b, ri, name, kanister.StateComplete)
		r := <-done
		if r.err != nil {
			b.Fatalf("Run: %v", r.err)
		}
		total += r.at.Sub(t0)
		samples = append(samples, r.at.Sub(t0))
	}
	slices.Sort(samples)
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/completion")
	b.ReportMetric(float64(samples[len(samples)*95/100].Microseconds())/1000, "p95-ms")
}

func exists(ctx context.Context, ri dynamic.ResourceInterface, name string) bool {
	_, err := ri.Get(ctx, name, metav1.GetOptions{})
	return err == nil
}

// writeStatus writes a one-phase status with a full Update and returns the
// time just before the Update was sent.
func writeStatus(b *testing.B, ri dynamic.ResourceInterface, name, state string) time.Time {
	b.Helper()
	u, err := ri.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	phase := kanister.StateRunning
	if state == kanister.StateComplete {
		phase = kanister.StateComplete
	}
	u.Object["status"] = map[string]any{
		"state":    state,
		"error":    map[string]any{"message": ""},
		"progress": map[string]any{"percentCompleted": "0"},
		"actions": []any{map[string]any{
			"name": "backup", "blueprint": "bp", "object": map[string]any{"kind": "pvc", "name": "data", "namespace": u.GetNamespace()},
			"phases":    []any{map[string]any{"name": "copy", "state": phase}},
			"artifacts": map[string]any{"volBackup": map[string]any{"keyValue": map[string]any{"backupTag": "t-" + name}}},
		}},
	}
	t0 := time.Now()
	if _, err := ri.Update(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		b.Fatal(err)
	}
	return t0
}
