package workflowtemplates

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated files under cluster/")

// clusterTemplate derives the ClusterWorkflowTemplate from the
// WorkflowTemplate. The templates never refer to each other, so changing
// the kind is the whole transformation; doing it on the text keeps the
// comments.
func clusterTemplate(src []byte) []byte {
	const header = "# GENERATED from ../workflowtemplate.yaml by `go test ./workflowtemplates -update`.\n# Do not edit; edit the WorkflowTemplate instead.\n"
	out := bytes.Replace(src, []byte("\nkind: WorkflowTemplate\n"), []byte("\nkind: ClusterWorkflowTemplate\n"), 1)
	out = bytes.Replace(out, []byte("# mlstate's steps as one WorkflowTemplate."), []byte("# mlstate's steps as one ClusterWorkflowTemplate."), 1)
	out = bytes.Replace(out, []byte("`templateRef: {name: mlstate, template: <step>}`"), []byte("`templateRef: {name: mlstate, template: <step>, clusterScope: true}`"), 1)
	out = bytes.Replace(out, []byte("\n  name: mlstate\n  namespace: ml\n"), []byte("\n  name: mlstate\n"), 1)
	return append([]byte(header), out...)
}

// generated maps each generated file to its content.
func generated(t *testing.T) map[string][]byte {
	t.Helper()
	src, err := os.ReadFile("workflowtemplate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile("kustomizeconfig.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		filepath.Join("cluster", "clusterworkflowtemplate.yaml"): clusterTemplate(src),
		filepath.Join("cluster", "kustomizeconfig.yaml"):         cfg,
	}
}

func TestClusterTemplateGenerated(t *testing.T) {
	for path, want := range generated(t) {
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (generate it with `go test ./workflowtemplates -update`)", path, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("workflowtemplates/%s is out of date with workflowtemplate.yaml; run `go test ./workflowtemplates -update`", path)
		}
	}
	if !strings.Contains(string(clusterTemplate([]byte("a: b\nkind: WorkflowTemplate\n"))), "kind: ClusterWorkflowTemplate") {
		t.Error("clusterTemplate did not change the kind")
	}
}
