package workflowtemplates

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/common"
	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"
)

// rendered is one template of the mlstate WorkflowTemplate after Argo's own
// code filled it in: the arguments and defaults (also from the `mlstate`
// ConfigMap), {{...}} and {{= ...}} substitution, and the podSpecPatch
// merged into the pod spec. It stops short of the controller's pod builder
// (no wait/init containers, no executor volumes): what is checked here is
// what the templates themselves put into the pod.
type rendered struct {
	tmpl *wfv1.Template
	pod  *corev1.PodSpec
}

// renderCtx is the run a template is rendered in.
type renderCtx struct {
	args      map[string]string // the caller's arguments
	retries   int               // {{retries}}: the retryStrategy attempt
	configMap map[string]string // data of the `mlstate` ConfigMap; nil: none
	status    string            // {{workflow.status}}
}

// cmStore serves the `mlstate` ConfigMap as Argo's controller would (from
// its informer, label included).
type cmStore map[string]string

func (s cmStore) GetByKey(key string) (any, bool, error) {
	if s == nil || key != defaultNamespace+"/mlstate" {
		return nil, false, nil
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "mlstate", Namespace: defaultNamespace,
			Labels: map[string]string{common.LabelKeyConfigMapType: common.LabelValueTypeConfigMapParameter}},
		Data: s,
	}, true, nil
}

// mlstateTemplates parses workflowtemplate.yaml with Argo's own decoder.
func mlstateTemplates(t testing.TB) *wfv1.WorkflowTemplate {
	t.Helper()
	for _, d := range loadDocs(t) {
		if d.path != templateFile || d.kind() != "WorkflowTemplate" {
			continue
		}
		for _, pr := range common.ParseObjects(d.data, true) {
			if wt, ok := pr.Object.(*wfv1.WorkflowTemplate); ok && pr.Err == nil {
				return wt
			}
		}
	}
	t.Fatalf("no WorkflowTemplate in %s", templateFile)
	return nil
}

// render fills template name in as Argo's controller does for one attempt.
func render(t testing.TB, name string, rc renderCtx) rendered {
	t.Helper()
	r, err := tryRender(t, name, rc)
	if err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	return r
}

func tryRender(t testing.TB, name string, rc renderCtx) (rendered, error) {
	t.Helper()
	wt := mlstateTemplates(t)
	tmpl := wt.GetTemplateByName(name)
	if tmpl == nil {
		t.Fatalf("%s has no template %s", templateFile, name)
	}
	var args wfv1.Arguments
	for k, v := range rc.args {
		args.Parameters = append(args.Parameters, wfv1.Parameter{Name: k, Value: wfv1.AnyStringPtr(v)})
	}
	status := rc.status
	if status == "" {
		status = "Running"
	}
	globals := common.Parameters{
		"workflow.name": "train-x7k2p", "workflow.uid": "0b5e6c1a-uid", "workflow.namespace": defaultNamespace,
		"workflow.status": status, "workflow.serviceAccountName": "mlstate-executor",
	}
	nodeName := "train-x7k2p.onExit"
	locals := common.Parameters{
		"node.name": fmt.Sprintf("%s(%d)", nodeName, rc.retries),
		"retries":   fmt.Sprint(rc.retries),
		"pod.name":  "train-x7k2p-" + name + "-1234",
	}
	out, err := common.ProcessArgs(tmpl, &args, globals, locals, false, defaultNamespace, cmStore(rc.configMap))
	if err != nil {
		return rendered{}, err
	}
	spec := corev1.PodSpec{
		Volumes:                      out.Volumes,
		SecurityContext:              out.SecurityContext,
		ServiceAccountName:           out.ServiceAccountName,
		AutomountServiceAccountToken: out.AutomountServiceAccountToken,
		NodeSelector:                 out.NodeSelector,
		Tolerations:                  out.Tolerations,
	}
	for _, ic := range out.InitContainers {
		spec.InitContainers = append(spec.InitContainers, ic.Container)
	}
	if out.Container != nil {
		main := *out.Container
		main.Name = common.MainContainerName
		spec.Containers = append(spec.Containers, main)
	}
	if out.PodSpecPatch != "" {
		patched, err := applyPodSpecPatch(spec, out.PodSpecPatch)
		if err != nil {
			return rendered{}, fmt.Errorf("podSpecPatch: %w", err)
		}
		spec = patched
	}
	return rendered{tmpl: out, pod: &spec}, nil
}

// main returns the pod's main container.
func (r rendered) main() corev1.Container {
	for _, c := range r.pod.Containers {
		if c.Name == common.MainContainerName {
			return c
		}
	}
	return corev1.Container{}
}

// parseStep runs the step's own command line on the rendered main
// container's arguments and hands the parsed flags to inspect (the step's
// action itself does not run).
func parseStep(t testing.TB, r rendered, inspect func(*cli.Context)) {
	t.Helper()
	c := r.main()
	iv := containerInvocation("", "", map[string]any{"image": c.Image, "command": toAny(c.Command)})
	newApp, ok := stepApps[iv.step]
	if !ok {
		t.Fatalf("main container %v runs no known step", c.Command)
	}
	app := newApp()
	app.ExitErrHandler = func(*cli.Context, error) {}
	called := false
	hook := func(c *cli.Context) error { called = true; inspect(c); return nil }
	app.Action = hook
	for _, cmd := range app.Commands {
		cmd.Action = hook
	}
	argv := append([]string{iv.step}, c.Command[1:]...)
	argv = append(argv, c.Args...)
	if app.SkipFlagParsing { // guard: its own flags end at "--", the user's command follows
		app.SkipFlagParsing = false
		if i := slices.Index(argv, "--"); i >= 0 {
			argv = argv[:i]
		}
	}
	if err := app.Run(argv); err != nil {
		t.Fatalf("%s %v: %v", iv.step, argv[1:], err)
	}
	if !called {
		t.Fatalf("%s %v: the step's action was not reached", iv.step, argv[1:])
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// applyPodSpecPatch merges a podSpecPatch the way Argo's
// workflow/util.ApplyPodSpecPatch does (YAML to JSON, must decode as a
// PodSpec, strategic merge). That package is not imported because it pulls
// in Argo's CLI dependencies.
func applyPodSpecPatch(spec corev1.PodSpec, patch string) (corev1.PodSpec, error) {
	base, err := json.Marshal(spec)
	if err != nil {
		return spec, err
	}
	pj, err := yaml.YAMLToJSON([]byte(patch))
	if err != nil {
		return spec, fmt.Errorf("not YAML or JSON: %w (%s)", err, patch)
	}
	dec := json.NewDecoder(bytes.NewReader(pj))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&corev1.PodSpec{}); err != nil {
		return spec, fmt.Errorf("not a PodSpec: %w (%s)", err, pj)
	}
	merged, err := strategicpatch.StrategicMergePatch(base, pj, corev1.PodSpec{})
	if err != nil {
		return spec, err
	}
	var out corev1.PodSpec
	return out, json.Unmarshal(merged, &out)
}

func hasMount(c corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}

func volume(spec *corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

func hasVolume(spec *corev1.PodSpec, name string) bool { return volume(spec, name) != nil }
