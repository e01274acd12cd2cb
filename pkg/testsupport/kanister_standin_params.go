package testsupport

// Template parameters and rendering of the KanisterStandIn (TEST-ONLY),
// following the Kanister contract §2.5.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// params resolves the template parameters of one action (§2.5).
func (r *standInRun) params(ctx context.Context, spec map[string]any) (map[string]any, error) {
	ref := asMap(spec["object"])
	kind, name, ns := lower(str(ref["kind"])), str(ref["name"]), str(ref["namespace"])
	gvr := map[string]schema.GroupVersionResource{
		"deployment":       {Group: "apps", Version: "v1", Resource: "deployments"},
		"statefulset":      {Group: "apps", Version: "v1", Resource: "statefulsets"},
		"deploymentconfig": {Group: "apps.openshift.io", Version: "v1", Resource: "deploymentconfigs"},
		"pvc":              {Version: "v1", Resource: "persistentvolumeclaims"},
		"namespace":        {Version: "v1", Resource: "namespaces"},
	}[kind]
	if gvr.Resource == "" {
		gvr = schema.GroupVersionResource{Group: str(ref["group"]), Version: str(ref["apiVersion"]), Resource: str(ref["resource"])}
	}
	ri := r.s.k.Dynamic.Resource(gvr)
	var obj *unstructured.Unstructured
	var err error
	if kind == "namespace" {
		obj, err = ri.Get(ctx, name, metav1.GetOptions{})
	} else {
		obj, err = ri.Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, err
	}
	in := map[string]any{}
	for k, v := range asMap(spec["artifacts"]) {
		kv := map[string]any{}
		for kk, vv := range asMap(asMap(v)["keyValue"]) {
			kv[kk] = vv
		}
		in[k] = map[string]any{"KeyValue": kv, "KopiaSnapshot": str(asMap(v)["kopiaSnapshot"])}
	}
	options := asMap(spec["options"])
	if options == nil {
		options = map[string]any{}
	}
	p := map[string]any{"Object": obj.Object, "ArtifactsIn": in, "Options": options, "Time": r.start.Format(time.RFC3339Nano)}
	named := map[string]any{"Name": name, "Namespace": ns}
	switch kind {
	case "pvc":
		p["PVC"] = named
	case "statefulset":
		p["StatefulSet"] = named
	case "deployment":
		p["Deployment"] = named
	case "deploymentconfig":
		p["DeploymentConfig"] = named
	case "namespace":
		p["Namespace"] = map[string]any{"Name": ns, "Namespace": ns}
	}
	return p, nil
}

// renderError carries Kanister's wording for a template failure (§2.5).
type renderError struct{ err error }

func (e renderError) Error() string { return "Failed to render template: " + e.err.Error() }
func (e renderError) Unwrap() error { return e.err }

// render renders every string in v as a Go template with missingkey=error.
func render(v any, params map[string]any) (any, error) {
	switch t := v.(type) {
	case string:
		tpl, err := template.New("arg").Option("missingkey=error").Funcs(template.FuncMap{
			"toJson":   func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
			"toString": func(v any) string { return fmt.Sprint(v) },
			"quote":    func(v any) string { return fmt.Sprintf("%q", fmt.Sprint(v)) },
		}).Parse(t)
		if err != nil {
			return nil, renderError{err}
		}
		var b strings.Builder
		if err := tpl.Execute(&b, params); err != nil {
			return nil, renderError{err}
		}
		return b.String(), nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			r, err := render(e, params)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			r, err := render(e, params)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}
