package workflowtemplates

import (
	"errors"
	"strings"
	"testing"
)

// mutated returns a copy of docs in which the first document of the given
// file and kind is replaced by break_(a deep copy of it).
func mutated(t *testing.T, docs []doc, path, kind string, break_ func(obj map[string]any)) []doc {
	t.Helper()
	out := append([]doc(nil), docs...)
	for i, d := range out {
		if d.path == path && d.kind() == kind {
			obj := deepCopy(d.obj).(map[string]any)
			break_(obj)
			out[i] = d.withObj(t, obj)
			return out
		}
	}
	t.Fatalf("no %s in %s", kind, path)
	return nil
}

// template returns the named template of a WorkflowTemplate or Workflow.
func template(t *testing.T, obj map[string]any, name string) map[string]any {
	t.Helper()
	spec := obj["spec"].(map[string]any)
	for _, tm := range spec["templates"].([]any) {
		if m := tm.(map[string]any); m["name"] == name {
			return m
		}
	}
	t.Fatalf("no template %s", name)
	return nil
}

// firstStep returns the step called name in a steps template.
func step(t *testing.T, tmpl map[string]any, name string) map[string]any {
	t.Helper()
	for _, group := range tmpl["steps"].([]any) {
		for _, s := range group.([]any) {
			if m := s.(map[string]any); m["name"] == name {
				return m
			}
		}
	}
	t.Fatalf("no step %s", name)
	return nil
}

const (
	templateFile = "workflowtemplates/workflowtemplate.yaml"
	exampleFile  = "examples/argo/guarded-training.yaml"
	pvcBlueprint = "workflowtemplates/blueprints/pvc.yaml"
)

// Each deliberately broken copy must make a check fail with a message that
// names the broken file.
func TestBrokenManifestsAreCaught(t *testing.T) {
	docs := loadDocs(t)
	tests := []struct {
		name  string
		docs  func() []doc
		check func([]doc) []error
		path  string
		want  string
	}{
		{
			name: "wrong templateRef",
			docs: func() []doc {
				return mutated(t, docs, exampleFile, "Workflow", func(o map[string]any) {
					step(t, template(t, o, "main"), "snapshot")["templateRef"].(map[string]any)["template"] = "snapshott"
				})
			},
			check: lintArgo, path: exampleFile, want: "snapshott",
		},
		{
			name: "wrong templateRef in the exit hook",
			docs: func() []doc {
				return mutated(t, docs, exampleFile, "Workflow", func(o map[string]any) {
					hook := o["spec"].(map[string]any)["hooks"].(map[string]any)["exit"].(map[string]any)
					hook["templateRef"].(map[string]any)["template"] = "restor"
				})
			},
			check: lintArgo, path: exampleFile, want: "restor",
		},
		{
			name: "exit hook without its pipeline",
			docs: func() []doc {
				return mutated(t, docs, exampleFile, "Workflow", func(o map[string]any) {
					hook := o["spec"].(map[string]any)["hooks"].(map[string]any)["exit"].(map[string]any)
					args := hook["arguments"].(map[string]any)
					args["parameters"] = args["parameters"].([]any)[1:] // drop pipeline
				})
			},
			check: lintArgo, path: exampleFile, want: "inputs.parameters.pipeline was not supplied",
		},
		{
			name: "missing parameter",
			docs: func() []doc {
				return mutated(t, docs, exampleFile, "Workflow", func(o map[string]any) {
					args := step(t, template(t, o, "main"), "snapshot")["arguments"].(map[string]any)
					var kept []any
					for _, p := range args["parameters"].([]any) {
						if p.(map[string]any)["name"] != "pipeline" {
							kept = append(kept, p)
						}
					}
					args["parameters"] = kept
				})
			},
			check: lintArgo, path: exampleFile, want: "inputs.parameters.pipeline was not supplied",
		},
		{
			name: "misspelt field (strict parsing)",
			docs: func() []doc {
				return mutated(t, docs, templateFile, "WorkflowTemplate", func(o map[string]any) {
					tm := template(t, o, "restore")
					tm["contianer"] = tm["container"]
					delete(tm, "container")
				})
			},
			check: lintArgo, path: templateFile, want: "contianer",
		},
		{
			name: "unknown flag",
			docs: func() []doc {
				return mutated(t, docs, templateFile, "WorkflowTemplate", func(o map[string]any) {
					c := template(t, o, "snapshot")["container"].(map[string]any)
					c["args"] = append(c["args"].([]any), "--snapshot-everything=true")
				})
			},
			check: func(d []doc) []error { return checkStepFlags(invocations(d)) },
			path:  templateFile, want: "--snapshot-everything",
		},
		{
			name: "unknown env var",
			docs: func() []doc {
				return mutated(t, docs, templateFile, "WorkflowTemplate", func(o map[string]any) {
					c := template(t, o, "restore")["container"].(map[string]any)
					c["env"] = append(c["env"].([]any), map[string]any{"name": "MLSTATE_RESTORE_EVERYTHING", "value": "1"})
				})
			},
			check: func(d []doc) []error { return checkStepFlags(invocations(d)) },
			path:  templateFile, want: "MLSTATE_RESTORE_EVERYTHING",
		},
		{
			name: "image no step builds",
			docs: func() []doc {
				return mutated(t, docs, templateFile, "WorkflowTemplate", func(o map[string]any) {
					template(t, o, "snapshot")["container"].(map[string]any)["image"] = "ghcr.io/mlstate/snapshots:v0.1.0"
				})
			},
			check: func(d []doc) []error { return checkImages(repoRoot(t), invocations(d)) },
			path:  templateFile, want: "ghcr.io/mlstate/snapshots",
		},
		{
			name: "parameter without description",
			docs: func() []doc {
				return mutated(t, docs, templateFile, "WorkflowTemplate", func(o map[string]any) {
					p := template(t, o, "stage-pull")["inputs"].(map[string]any)["parameters"].([]any)[0]
					delete(p.(map[string]any), "description")
				})
			},
			check: checkConventions, path: templateFile, want: "no description",
		},
		{
			name: "blueprint on the default restic key",
			docs: func() []doc {
				return mutated(t, docs, pvcBlueprint, "Blueprint", func(o map[string]any) {
					b := o["actions"].(map[string]any)["backup"].(map[string]any)
					delete(b["phases"].([]any)[0].(map[string]any)["args"].(map[string]any), "encryptionKey")
				})
			},
			check: func(d []doc) []error { _, errs := checkBlueprints(d); return errs },
			path:  pvcBlueprint, want: "encryptionKey",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.check(tc.docs())
			for _, err := range errs {
				if strings.HasPrefix(err.Error(), tc.path+":") && strings.Contains(err.Error(), tc.want) {
					return
				}
			}
			t.Errorf("no error names %s and mentions %q; got: %v", tc.path, tc.want, errors.Join(errs...))
		})
	}
}
