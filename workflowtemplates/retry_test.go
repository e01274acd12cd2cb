package workflowtemplates

import (
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/steps/stepflags"
)

// `argo retry` re-runs a workflow's exit handler under the same workflow UID
// and node names (FormulateRetryWorkflow deletes the onExit nodes and the
// controller recreates them), so only {{retries}} tells its first attempt
// from a retryStrategy attempt. The templates that create ActionSets must
// pass it, and the step must read attempt 0 as a new run.
func TestRetryAttemptReachesTheSteps(t *testing.T) {
	args := map[string]string{"store": "s3://mlstate", "pipeline": "resnet", "objects": "pvc/ml/checkpoints"}
	for _, name := range []string{"snapshot", "restore"} {
		for _, tc := range []struct {
			retries    int
			wantNewRun bool
		}{{0, true}, {1, false}, {2, false}} {
			r := render(t, name, renderCtx{args: args, retries: tc.retries})
			if r.tmpl.RetryStrategy == nil {
				t.Fatalf("template %s has no retryStrategy, so Argo sets no {{retries}}", name)
			}
			parseStep(t, r, func(c *cli.Context) {
				if got := stepflags.NewRun(c); got != tc.wantNewRun {
					t.Errorf("template %s, attempt %d: the step reads new run = %v, want %v (args %v)",
						name, tc.retries, got, tc.wantNewRun, r.main().Args)
				}
				if c.String("node-id") == "" || c.String("workflow-uid") == "" {
					t.Errorf("template %s passes no node or workflow identity: %v", name, r.main().Args)
				}
			})
		}
	}
}
