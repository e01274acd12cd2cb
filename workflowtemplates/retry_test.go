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

// The restore template mounts the workspace only when one is named, and
// then restores the staged paths too; without one it restores only the
// Kanister side (and the step refuses a restore point with nothing else).
func TestRestoreTemplateMountsTheWorkspace(t *testing.T) {
	base := map[string]string{"store": "s3://mlstate", "pipeline": "resnet"}
	without := render(t, "restore", renderCtx{args: base})
	if hasMount(without.main(), "/workspace") || hasVolume(without.pod, "workspace") {
		t.Errorf("no workspace-pvc given, but the pod mounts one: %+v", without.pod.Volumes)
	}
	parseStep(t, without, func(c *cli.Context) {
		if !c.Bool("skip-stage") {
			t.Errorf("without a workspace the step must skip staged trees (it cannot write them): %v", without.main().Args)
		}
	})

	args := map[string]string{"workspace-pvc": "train-data"}
	for k, v := range base {
		args[k] = v
	}
	with := render(t, "restore", renderCtx{args: args})
	if !hasMount(with.main(), "/workspace") {
		t.Errorf("main container does not mount the workspace at /workspace: %+v", with.main().VolumeMounts)
	}
	if v := volume(with.pod, "workspace"); v == nil || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "train-data" {
		t.Errorf("workspace volume %+v, want PVC train-data", v)
	}
	parseStep(t, with, func(c *cli.Context) {
		if c.Bool("skip-stage") {
			t.Errorf("with a workspace the step must restore the staged trees: %v", with.main().Args)
		}
	})
}

// The restore-point parameter: an ID, "latest", or "auto" (this workflow's
// own restore point in an exit hook, else the newest).
func TestRestorePointSelection(t *testing.T) {
	cases := []struct {
		restorePoint, status string
		check                func(*cli.Context) bool
	}{
		{"auto", "", func(c *cli.Context) bool { return c.Bool("latest") && !c.Bool("from-this-workflow") }},
		{"auto", "Failed", func(c *cli.Context) bool {
			return c.Bool("from-this-workflow") && c.String("workflow-status") == "Failed"
		}},
		{"latest", "Failed", func(c *cli.Context) bool { return c.Bool("latest") }},
		{"rp-20261128-174210.123-9f2c41d7", "", func(c *cli.Context) bool {
			return c.String("restore-point") == "rp-20261128-174210.123-9f2c41d7"
		}},
	}
	for _, tc := range cases {
		args := map[string]string{"store": "s3://mlstate", "pipeline": "resnet", "restore-point": tc.restorePoint, "workflow-status": tc.status}
		r := render(t, "restore", renderCtx{args: args})
		parseStep(t, r, func(c *cli.Context) {
			if !tc.check(c) {
				t.Errorf("restore-point=%q workflow-status=%q: step got %v", tc.restorePoint, tc.status, r.main().Args)
			}
		})
	}
}
