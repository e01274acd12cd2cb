package workflowtemplates

import (
	"testing"
)

// kanisterTemplates are the templates that drive Kanister and so run as
// `mlstate`; every other one runs as mlstate-executor with no API token in
// its main container.
var kanisterTemplates = map[string]bool{"preflight": true, "snapshot": true, "restore": true, "catalog-prune": true}

func TestIdentitiesPerTemplate(t *testing.T) {
	wt := mlstateTemplates(t)
	for _, tm := range wt.Spec.Templates {
		if kanisterTemplates[tm.Name] {
			if tm.ServiceAccountName != "mlstate" {
				t.Errorf("template %s drives Kanister and must run as mlstate, not %q", tm.Name, tm.ServiceAccountName)
			}
			continue
		}
		if tm.ServiceAccountName != "mlstate-executor" {
			t.Errorf("template %s needs no Kanister rights and must run as mlstate-executor, not %q", tm.Name, tm.ServiceAccountName)
		}
		if tm.AutomountServiceAccountToken == nil || *tm.AutomountServiceAccountToken {
			t.Errorf("template %s: its main container needs no API token: set automountServiceAccountToken: false", tm.Name)
		}
		if tm.Executor == nil || tm.Executor.ServiceAccountName != "mlstate-executor" {
			t.Errorf("template %s: without a token Argo's executor needs executor.serviceAccountName mlstate-executor", tm.Name)
		}
	}
	// guard runs the user's code: check the pod Argo would build.
	g := render(t, "guard", renderCtx{args: map[string]string{"store": "s3://b", "pipeline": "p", "image": "train:1", "command": "python train.py", "workspace-pvc": "ws"}})
	if g.pod.AutomountServiceAccountToken == nil || *g.pod.AutomountServiceAccountToken || g.pod.ServiceAccountName != "mlstate-executor" {
		t.Errorf("guard pod: serviceAccountName %q automount %v; want mlstate-executor without a token", g.pod.ServiceAccountName, g.pod.AutomountServiceAccountToken)
	}
}

// No example hands its own (training) steps the Kanister identity: the
// workflow default is mlstate-executor, and only mlstate's templates
// (through templateRef) run as mlstate.
func TestExamplesKeepTrainingAwayFromBackupRights(t *testing.T) {
	n := 0
	for _, d := range loadDocs(t) {
		if !d.isArgo() || d.path[:len("examples/")] != "examples/" {
			continue
		}
		spec, _ := d.obj["spec"].(map[string]any)
		if ws, ok := spec["workflowSpec"].(map[string]any); ok {
			spec = ws
		}
		if spec == nil {
			continue
		}
		n++
		if sa, _ := spec["serviceAccountName"].(string); sa == "mlstate" {
			t.Errorf("%s: serviceAccountName mlstate at workflow level gives every step Kanister rights; use mlstate-executor", d.path)
		}
		for _, tm := range asList(spec["templates"]) {
			m, _ := tm.(map[string]any)
			if sa, _ := m["serviceAccountName"].(string); sa == "mlstate" {
				t.Errorf("%s: template %v runs as mlstate; only mlstate's own templates may", d.path, m["name"])
			}
		}
	}
	if n == 0 {
		t.Fatal("no Argo example found")
	}
}
