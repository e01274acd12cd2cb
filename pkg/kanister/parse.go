package kanister

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

// KnownKinds are the object kinds Kanister recognises after lower-casing
// (contract §2.2). Any other object needs the generic form with apiVersion
// and resource.
var KnownKinds = []string{"deployment", "statefulset", "deploymentconfig", "pvc", "namespace"}

const objectForms = "KIND/NAMESPACE/NAME (KIND one of deployment, statefulset, deploymentconfig, pvc), " +
	"namespace/NAME, or GROUP/VERSION/RESOURCE/NAMESPACE/NAME (VERSION/RESOURCE/NAMESPACE/NAME for the core group)"

func usagef(format string, args ...any) error {
	return exitcode.With(exitcode.Usage, fmt.Errorf(format, args...))
}

// ParseObject reads a Kanister target as given on the command line, e.g.
// "statefulset/ml/trainer", "pvc/ml/checkpoints", "namespace/ml" or
// "apps/v1/replicasets/ml/trainer-abc". The kind is lower-cased as Kanister
// does. "PersistentVolumeClaim" is refused with a hint to use "pvc", because
// Kanister would treat it as a generic object and leave .PVC empty (§2.2).
func ParseObject(s string) (ObjectRef, error) {
	parts := strings.Split(s, "/")
	for _, p := range parts {
		if p == "" {
			return ObjectRef{}, usagef("object %q: empty part; want %s", s, objectForms)
		}
	}
	var ref ObjectRef
	switch len(parts) {
	case 2, 3:
		kind := strings.ToLower(parts[0])
		if err := checkKind(s, kind); err != nil {
			return ObjectRef{}, err
		}
		ref = ObjectRef{Kind: kind, Namespace: parts[1], Name: parts[len(parts)-1]}
		if kind == "namespace" {
			// Kanister takes both from object.namespace; kanctl sets both (§2.2).
			if len(parts) == 3 && parts[1] != parts[2] {
				return ObjectRef{}, usagef("object %q: a namespace target is namespace/NAME", s)
			}
			ref.Name = ref.Namespace
		} else if len(parts) == 2 {
			return ObjectRef{}, usagef("object %q: want %s/NAMESPACE/NAME", s, kind)
		}
	case 4:
		ref = ObjectRef{APIVersion: parts[0], Resource: strings.ToLower(parts[1]), Namespace: parts[2], Name: parts[3]}
	case 5:
		ref = ObjectRef{Group: parts[0], APIVersion: parts[1], Resource: strings.ToLower(parts[2]), Namespace: parts[3], Name: parts[4]}
	default:
		return ObjectRef{}, usagef("object %q: want %s", s, objectForms)
	}
	if errs := validation.IsDNS1123Label(ref.Namespace); len(errs) > 0 {
		return ObjectRef{}, usagef("object %q: namespace %q: %s", s, ref.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(ref.Name); len(errs) > 0 {
		return ObjectRef{}, usagef("object %q: name %q: %s", s, ref.Name, strings.Join(errs, "; "))
	}
	return ref, nil
}

func checkKind(s, kind string) error {
	for _, k := range KnownKinds {
		if k == kind {
			return nil
		}
	}
	switch kind {
	case "persistentvolumeclaim", "persistentvolumeclaims", "pvcs":
		return usagef("object %q: Kanister does not recognise kind %q; use pvc (e.g. pvc/NAMESPACE/NAME), otherwise the Blueprint gets no .PVC", s, kind)
	case "deployments", "statefulsets", "deploymentconfigs", "namespaces":
		return usagef("object %q: use the singular kind %s", s, strings.TrimSuffix(kind, "s"))
	}
	return usagef("object %q: unknown kind %q; want %s", s, kind, objectForms)
}

// ParseProfile reads a Profile reference "NAMESPACE/NAME". Kanister needs the
// namespace to be explicit (contract §2.1).
func ParseProfile(s string) (ObjectRef, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return ObjectRef{}, usagef("profile %q: want NAMESPACE/NAME", s)
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return ObjectRef{}, usagef("profile %q: namespace %q: %s", s, ns, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return ObjectRef{}, usagef("profile %q: name %q: %s", s, name, strings.Join(errs, "; "))
	}
	return ObjectRef{Name: name, Namespace: ns}, nil
}

// ParseOption reads one "KEY=VALUE" action option. Values are strings, as
// Kanister requires; the value may be empty and may contain '='.
func ParseOption(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(key) == "" {
		return "", "", usagef("option %q: want KEY=VALUE", s)
	}
	return key, value, nil
}

// ParseOptions reads repeated "KEY=VALUE" options into a map; a repeated key
// is an error rather than a silent override.
func ParseOptions(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(list))
	for _, s := range list {
		k, v, err := ParseOption(s)
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, usagef("option %q given twice", k)
		}
		m[k] = v
	}
	return m, nil
}
