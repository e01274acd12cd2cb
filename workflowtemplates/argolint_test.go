package workflowtemplates

import (
	"context"
	"fmt"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/common"
	"github.com/argoproj/argo-workflows/v3/workflow/templateresolution"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"
)

// The validator needs getters to resolve templateRefs; these are backed by
// the templates of every scanned file, so refs between files resolve.
type nsGetter map[string]*wfv1.WorkflowTemplate

func (g nsGetter) Get(name string) (*wfv1.WorkflowTemplate, error) {
	if t, ok := g[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("WorkflowTemplate %q is not in any checked file", name)
}

type clusterGetter map[string]*wfv1.ClusterWorkflowTemplate

func (g clusterGetter) Get(name string) (*wfv1.ClusterWorkflowTemplate, error) {
	if t, ok := g[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("ClusterWorkflowTemplate %q is not in any checked file", name)
}

var (
	_ templateresolution.WorkflowTemplateNamespacedGetter = nsGetter{}
	_ templateresolution.ClusterWorkflowTemplateGetter    = clusterGetter{}
)

// defaultNamespace is where namespace-less Argo objects are assumed to live
// (kubectl -n, or the kustomization's namespace).
const defaultNamespace = "ml"

// lintArgo runs Argo's own validator (lint semantics, strict parsing) over
// every Argo object and returns one error per failure, naming the file.
func lintArgo(docs []doc) []error {
	type item struct {
		path string
		obj  any
	}
	var (
		errs    []error
		items   []item
		byNS    = map[string]nsGetter{}
		cluster = clusterGetter{}
	)
	ns := func(n string) nsGetter {
		if n == "" {
			n = defaultNamespace
		}
		if byNS[n] == nil {
			byNS[n] = nsGetter{}
		}
		return byNS[n]
	}
	for _, d := range docs {
		if !d.isArgo() {
			continue
		}
		for _, pr := range common.ParseObjects(d.data, true) {
			if pr.Err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", d.path, d.kind(), pr.Err))
				continue
			}
			switch o := pr.Object.(type) {
			case *wfv1.WorkflowTemplate:
				ns(o.Namespace)[o.Name] = o
			case *wfv1.ClusterWorkflowTemplate:
				cluster[o.Name] = o
			case *wfv1.Workflow, *wfv1.CronWorkflow:
			default:
				continue
			}
			items = append(items, item{d.path, pr.Object})
		}
	}
	opts := validate.ValidateOpts{Lint: true}
	for _, it := range items {
		var err error
		var what string
		switch o := it.obj.(type) {
		case *wfv1.WorkflowTemplate:
			what = "WorkflowTemplate " + o.Name
			err = validate.ValidateWorkflowTemplate(ns(o.Namespace), cluster, o, nil, opts)
		case *wfv1.ClusterWorkflowTemplate:
			what = "ClusterWorkflowTemplate " + o.Name
			err = validate.ValidateClusterWorkflowTemplate(ns(""), cluster, o, nil, opts)
		case *wfv1.Workflow:
			what = "Workflow " + o.Name + o.GenerateName
			err = validate.ValidateWorkflow(ns(o.Namespace), cluster, o, nil, opts)
			if hooked := exitHookAsOnExit(o); err == nil && hooked != nil {
				what += " (its exit hook, validated as onExit)"
				err = validate.ValidateWorkflow(ns(o.Namespace), cluster, hooked, nil, opts)
			}
		case *wfv1.CronWorkflow:
			what = "CronWorkflow " + o.Name
			err = validate.ValidateCronWorkflow(context.Background(), ns(o.Namespace), cluster, o, nil)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", it.path, what, err))
		}
	}
	return errs
}

// exitHookAsOnExit returns a copy of wf whose workflow-level exit hook is an
// onExit handler making the same call, or nil when wf has none. Argo's
// validator (v3.7.18, validateHooks) checks a hook's expression only, not
// the template it calls or its arguments; the controller runs both the
// same way (the exit node, under "<name>.onExit"), so validating the hook
// as onExit checks the templateRef and the arguments it passes.
func exitHookAsOnExit(wf *wfv1.Workflow) *wfv1.Workflow {
	hook, ok := wf.Spec.Hooks[wfv1.ExitLifecycleEvent]
	if !ok || wf.Spec.OnExit != "" {
		return nil
	}
	out := wf.DeepCopy()
	delete(out.Spec.Hooks, wfv1.ExitLifecycleEvent)
	const name = "lint-exit-hook"
	out.Spec.Templates = append(out.Spec.Templates, wfv1.Template{
		Name: name,
		Steps: []wfv1.ParallelSteps{{Steps: []wfv1.WorkflowStep{{
			Name: "hook", Template: hook.Template, TemplateRef: hook.TemplateRef, Arguments: hook.Arguments,
		}}}},
	})
	out.Spec.OnExit = name
	return out
}

func TestArgoValidator(t *testing.T) {
	docs := loadDocs(t)
	n := 0
	for _, d := range docs {
		if d.isArgo() {
			n++
		}
	}
	if n < 2 {
		t.Fatalf("found %d Argo objects; expected the templates and examples", n)
	}
	for _, err := range lintArgo(docs) {
		t.Error(err)
	}
	t.Logf("validated %d Argo objects", n)
}
