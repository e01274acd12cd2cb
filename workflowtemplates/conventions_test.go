package workflowtemplates

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mlstate/mlstate/pkg/blueprint"
)

// checkBlueprints runs pkg/blueprint's static checks on every Blueprint.
func checkBlueprints(docs []doc) (n int, errs []error) {
	for _, d := range docs {
		if d.kind() != "Blueprint" || !strings.HasPrefix(d.apiVersion(), "cr.kanister.io/") {
			continue
		}
		n++
		bp, err := blueprint.Decode(d.data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.path, err))
			continue
		}
		for _, p := range blueprint.Check(bp, blueprint.CheckOptions{}) {
			errs = append(errs, fmt.Errorf("%s: Blueprint %s: %s", d.path, bp.Metadata.Name, p))
		}
	}
	return n, errs
}

func TestBlueprints(t *testing.T) {
	n, errs := checkBlueprints(loadDocs(t))
	for _, err := range errs {
		t.Error(err)
	}
	if n < 2 {
		t.Errorf("found %d Blueprints, want the PVC and CSI ones", n)
	}
}

var requiredAnnotations = []string{
	"workflows.argoproj.io/description",
	"workflows.argoproj.io/maintainer",
	"workflows.argoproj.io/tags",
	"workflows.argoproj.io/version",
}

// checkConventions enforces the library's template conventions on the
// WorkflowTemplate and ClusterWorkflowTemplate (the parts Argo's validator
// does not check).
func checkConventions(docs []doc) []error {
	var errs []error
	bad := func(d doc, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", d.path, fmt.Sprintf(format, args...)))
	}
	for _, d := range docs {
		if d.kind() != "WorkflowTemplate" && d.kind() != "ClusterWorkflowTemplate" {
			continue
		}
		meta, _ := d.obj["metadata"].(map[string]any)
		ann, _ := meta["annotations"].(map[string]any)
		for _, a := range requiredAnnotations {
			if s, _ := ann[a].(string); strings.TrimSpace(s) == "" {
				bad(d, "annotation %s is missing", a)
			}
		}
		if s, _ := ann[requiredAnnotations[0]].(string); s != "" && !strings.HasSuffix(strings.TrimSpace(s), ".") {
			bad(d, "the description annotation should end with a period")
		}
		spec, _ := d.obj["spec"].(map[string]any)
		tmpls, _ := spec["templates"].([]any)
		for _, t := range tmpls {
			tm, _ := t.(map[string]any)
			name, _ := tm["name"].(string)
			c, ok := tm["container"].(map[string]any)
			if !ok {
				continue
			}
			checkTemplate(func(format string, args ...any) { bad(d, "template "+name+": "+format, args...) }, tm, c)
		}
	}
	return errs
}

func checkTemplate(bad func(string, ...any), tm, c map[string]any) {
	inputs, _ := tm["inputs"].(map[string]any)
	params, _ := inputs["parameters"].([]any)
	for _, p := range params {
		pm, _ := p.(map[string]any)
		if s, _ := pm["description"].(string); s == "" {
			bad("input parameter %v has no description", pm["name"])
		}
	}
	outputs, _ := tm["outputs"].(map[string]any)
	outs, _ := outputs["parameters"].([]any)
	for _, p := range outs {
		pm, _ := p.(map[string]any)
		vf, _ := pm["valueFrom"].(map[string]any)
		if path, _ := vf["path"].(string); !strings.HasPrefix(path, "/tmp/outputs/") {
			bad("output parameter %v is not read from a file under /tmp/outputs", pm["name"])
		}
		if _, ok := vf["default"]; !ok {
			bad("output parameter %v has no valueFrom.default for failed runs", pm["name"])
		}
	}
	if cmd, _ := c["command"].([]any); len(cmd) == 0 {
		bad("container has no command (the images have no shell and no entrypoint lookup)")
	}
	sc, _ := c["securityContext"].(map[string]any)
	image, _ := c["image"].(string)
	// The user's own image (guard) may need a writable root: the template
	// makes it a parameter instead.
	userImage := strings.Contains(image, "{{")
	if (!userImage && sc["readOnlyRootFilesystem"] != true) || sc["allowPrivilegeEscalation"] != false {
		bad("container securityContext must set readOnlyRootFilesystem: true and allowPrivilegeEscalation: false")
	}
	psc, _ := tm["securityContext"].(map[string]any)
	if psc["runAsNonRoot"] != true {
		bad("securityContext must set runAsNonRoot: true")
	}
	mountsTmp := false
	mounts, _ := c["volumeMounts"].([]any)
	for _, m := range mounts {
		mm, _ := m.(map[string]any)
		mountsTmp = mountsTmp || mm["mountPath"] == "/tmp"
	}
	if !mountsTmp {
		bad("container must mount a writable volume at /tmp (outputs are written there)")
	}
	if rs, ok := tm["retryStrategy"].(map[string]any); ok {
		if rs["expression"] != "asInt(lastRetry.exitCode) == 20" {
			bad("retryStrategy must retry only the transient exit code: expression asInt(lastRetry.exitCode) == 20")
		}
		if _, ok := rs["backoff"]; !ok {
			bad("retryStrategy has no backoff")
		}
	}
	for _, e := range asList(c["env"]) {
		em, _ := e.(map[string]any)
		name, _ := em["name"].(string)
		if strings.Contains(name, "SECRET") || strings.Contains(name, "ACCESS_KEY") {
			if _, ok := em["valueFrom"]; !ok {
				bad("env %s must come from a Secret (valueFrom.secretKeyRef), not a value", name)
			}
		}
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

func TestTemplateConventions(t *testing.T) {
	for _, err := range checkConventions(loadDocs(t)) {
		t.Error(err)
	}
}
