package catalog

import (
	"slices"
	"strings"
	"testing"

	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/restorepoint"
)

func TestCheckKanister(t *testing.T) {
	pvc := kanister.ObjectRef{Kind: "pvc", Namespace: "ml", Name: "ckpt"}
	kv := func(m map[string]string) map[string]kanister.Artifact {
		return map[string]kanister.Artifact{"snap": {KeyValue: m}}
	}
	cases := []struct {
		name   string
		action kanister.RecordedAction
		want   []string // substrings, one per problem, in order
	}{
		{"complete", kanister.RecordedAction{Name: "backup", Blueprint: "bp", Object: pvc, Artifacts: kv(map[string]string{"id": "b1"})}, nil},
		{"kopia snapshot", kanister.RecordedAction{Name: "backup", Blueprint: "bp", Object: pvc,
			Artifacts: map[string]kanister.Artifact{"k": {KopiaSnapshot: `{"id":"k1"}`}}}, nil},
		{"raw template", kanister.RecordedAction{Name: "backup", Blueprint: "bp", Object: pvc, Artifacts: kv(map[string]string{"id": "{{ .Phases.a.Output.id }}"})},
			[]string{"artifact snap key id is an unrendered template"}},
		{"empty value", kanister.RecordedAction{Name: "backup", Blueprint: "bp", Object: pvc, Artifacts: kv(map[string]string{"id": "b1", "tag": ""})},
			[]string{"artifact snap key tag is empty"}},
		{"empty artifact", kanister.RecordedAction{Name: "backup", Blueprint: "bp", Object: pvc, Artifacts: kv(nil)},
			[]string{"artifact snap is empty"}},
		{"no artifacts", kanister.RecordedAction{Name: "backup", Blueprint: "bp", Object: pvc},
			[]string{"no output artifacts recorded"}},
		{"no blueprint or object", kanister.RecordedAction{Name: "backup", Artifacts: kv(map[string]string{"id": "b1"})},
			[]string{"no blueprint recorded", "no target object recorded"}},
		{"resource object", kanister.RecordedAction{Name: "backup", Blueprint: "bp",
			Object:    kanister.ObjectRef{APIVersion: "v1", Resource: "configmaps", Namespace: "ml", Name: "cfg"},
			Artifacts: kv(map[string]string{"id": "b1"})}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := checkKanister(&restorepoint.Record{Kanister: []kanister.RecordedAction{tc.action}})
			if len(got) != len(tc.want) {
				t.Fatalf("problems %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) || !strings.HasPrefix(got[i], "Kanister action 1 (backup of ") {
					t.Errorf("problem %d = %q, want one about %q", i, got[i], w)
				}
			}
		})
	}
}

func TestReportProblems(t *testing.T) {
	r := Report{RestorePoint: "rp-1", Trees: []TreeReport{{Path: "/data", Error: "tree not found"}}, Kanister: []string{"Kanister action 1: x"}}
	want := []string{"rp-1: staged /data: tree not found", "rp-1: Kanister action 1: x"}
	if got := r.Problems(); !slices.Equal(got, want) || r.OK() {
		t.Fatalf("Problems() = %q, want %q", got, want)
	}
	if !(Report{RestorePoint: "rp-2"}).OK() {
		t.Fatal("an empty report is not OK")
	}
}
