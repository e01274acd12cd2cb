package snapshot

import (
	"testing"

	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/restorepoint"
)

func TestKanisterRequest(t *testing.T) {
	t.Parallel()
	actions := []kanister.ActionSpec{{Name: "snapshot-all", Blueprint: "bp"}}
	wf := restorepoint.Workflow{UID: "uid-1", NodeID: "wf.steps[0].snapshot"}
	cases := []struct {
		name         string
		wf           restorepoint.Workflow
		newRun       bool
		wantName     string
		wantGenerate string
	}{
		{"from the Argo node: named after the Blueprint action", wf, false, kanister.Name("uid-1", "wf.steps[0].snapshot", "snapshot-all"), ""},
		{"first attempt of a run: same name, marked new", wf, true, kanister.Name("uid-1", "wf.steps[0].snapshot", "snapshot-all"), ""},
		{"by hand: generated", restorepoint.Workflow{}, false, "", kanister.GenerateName("snapshot-all")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := kanisterRequest("llm", tc.wf, tc.newRun, actions)
			if req.NewRun != tc.newRun {
				t.Fatalf("NewRun %v, want %v", req.NewRun, tc.newRun)
			}
			if req.Name != tc.wantName || req.GenerateName != tc.wantGenerate {
				t.Fatalf("name %q generateName %q, want %q %q", req.Name, req.GenerateName, tc.wantName, tc.wantGenerate)
			}
			if req.Labels[kanister.LabelPipeline] != "llm" || req.Labels[kanister.LabelWorkflowUID] != tc.wf.UID {
				t.Fatalf("labels %v", req.Labels)
			}
		})
	}
}
