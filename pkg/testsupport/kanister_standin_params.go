package testsupport

// Template parameters and rendering of the KanisterStandIn (TEST-ONLY),
// following the Kanister contract §2.5.

import (
	"context"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// params resolves the template parameters of one action the way
// pkg/param/param.go New does, in its order: the Secrets, the ConfigMaps,
// the Profile and its credential Secret, then the object. Every read is
// the controller's own, so a missing (or forbidden) one fails the launch
// with the API error's text.
func (r *standInRun) params(ctx context.Context, spec map[string]any) (map[string]any, error) {
	cs := r.s.k.Clientset
	secrets := map[string]any{}
	for key, ref := range asMap(spec["secrets"]) {
		sec, err := cs.CoreV1().Secrets(str(asMap(ref)["namespace"])).Get(ctx, str(asMap(ref)["name"]), metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		secrets[key] = secretParam(sec)
	}
	configMaps := map[string]any{}
	for key, ref := range asMap(spec["configMaps"]) {
		cm, err := cs.CoreV1().ConfigMaps(str(asMap(ref)["namespace"])).Get(ctx, str(asMap(ref)["name"]), metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		data := map[string]any{}
		for k, v := range cm.Data {
			data[k] = v
		}
		configMaps[key] = map[string]any{"Data": data}
	}
	var profile map[string]any
	if ref := asMap(spec["profile"]); ref != nil {
		var err error
		if profile, err = r.profileParam(ctx, ref); err != nil {
			return nil, err
		}
	}
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
	objNS := ns
	if kind == "namespace" {
		objNS = ""
		obj, err = ri.Get(ctx, ns, metav1.GetOptions{})
	} else {
		obj, err = ri.Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		// The typed reads of the known kinds fail with the API error as
		// it is; the generic read (namespace and other kinds) wraps it.
		if !knownKinds[kind] || kind == "namespace" {
			return nil, fmt.Errorf("could not fetch object name: %s, namespace: %s, group: %s, version: %s, resource: %s: %w",
				name, objNS, gvr.Group, gvr.Version, gvr.Resource, err)
		}
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
	p := map[string]any{"Object": obj.Object, "ArtifactsIn": in, "Options": options, "Time": r.start.Format(time.RFC3339Nano),
		"Secrets": secrets, "ConfigMaps": configMaps}
	if profile != nil {
		p["Profile"] = profile
	}
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
		// Kanister's function map is sprig's (pkg/ksprig, FIPS-filtered).
		tpl, err := template.New("arg").Option("missingkey=error").Funcs(sprig.TxtFuncMap()).Parse(t)
		if err != nil {
			return nil, renderError{err}
		}
		var b strings.Builder
		if err := tpl.Execute(&b, params); err != nil {
			return nil, renderError{err}
		}
		return b.String(), nil
	case map[string]any:
		// Keys are templates too (render.go render: a volumes map is keyed
		// by "{{ .PVC.Name }}").
		out := make(map[string]any, len(t))
		for k, e := range t {
			rk, err := render(k, params)
			if err != nil {
				return nil, err
			}
			r, err := render(e, params)
			if err != nil {
				return nil, err
			}
			out[rk.(string)] = r
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

// secretParam is a Secret as a template sees it (.Secrets.REF.Data.KEY is
// bytes, hence `| toString`).
func secretParam(sec *corev1.Secret) map[string]any {
	data := map[string]any{}
	for k, v := range sec.Data {
		data[k] = v
	}
	return map[string]any{"Data": data, "Name": sec.Name, "Namespace": sec.Namespace}
}

// profileParam reads the Profile and its keyPair credential Secret as
// fetchProfile and fetchKeyPairCredential do.
func (r *standInRun) profileParam(ctx context.Context, ref map[string]any) (map[string]any, error) {
	p, err := r.s.k.Dynamic.Resource(schema.GroupVersionResource{Group: "cr.kanister.io", Version: "v1alpha1", Resource: "profiles"}).
		Namespace(str(ref["namespace"])).Get(ctx, str(ref["name"]), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	cred := asMap(p.Object["credential"])
	kp := asMap(cred["keyPair"])
	if str(cred["type"]) != "keyPair" || kp == nil {
		return nil, fmt.Errorf("CredentialType '%s' not supported", str(cred["type"]))
	}
	sref := asMap(kp["secret"])
	sec, err := r.s.k.Clientset.CoreV1().Secrets(str(sref["namespace"])).Get(ctx, str(sref["name"]), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	idField, secretField := str(kp["idField"]), str(kp["secretField"])
	if _, ok := sec.Data[idField]; !ok {
		//lint:ignore ST1005 Kanister's own message (pkg/param), which users see
		return nil, fmt.Errorf("Key '%s' not found in secret '%s:%s'", idField, sec.Namespace, sec.Name)
	}
	if _, ok := sec.Data[secretField]; !ok {
		//lint:ignore ST1005 Kanister's own message (pkg/param), which users see
		return nil, fmt.Errorf("Value '%s' not found in secret '%s:%s'", secretField, sec.Namespace, sec.Name)
	}
	loc := asMap(p.Object["location"])
	return map[string]any{
		"Location": map[string]any{"Type": str(loc["type"]), "Bucket": str(loc["bucket"]), "Endpoint": str(loc["endpoint"]),
			"Prefix": str(loc["prefix"]), "Region": str(loc["region"])},
		"Credential":    map[string]any{"Type": "keyPair", "KeyPair": map[string]any{"ID": string(sec.Data[idField]), "Secret": string(sec.Data[secretField])}},
		"SkipSSLVerify": p.Object["skipSSLVerify"] == true,
	}, nil
}
