package preflight

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/mlstate/mlstate/pkg/kanister"
)

// checkObjects yields one line per --object: refused by the parser (a kind
// Kanister would not recognise, such as PersistentVolumeClaim), missing, or
// present.
func checkObjects(ctx context.Context, r *runner) []Check {
	const id = "object"
	var out []Check
	if len(r.opts.Objects) == 0 && r.opts.Blueprint != "" {
		out = append(out, broken(id, "Objects", "name the targets with --object KIND/NAMESPACE/NAME, e.g. pvc/ml/checkpoints", "--blueprint given without --object"))
	}
	for _, o := range r.opts.Objects {
		name := "Object " + o.Arg
		if strings.TrimSpace(o.Arg) == "" {
			name = `Object ""` // an empty --object= from a template parameter
		}
		if o.Err != nil {
			out = append(out, broken(id, name, "write targets as KIND/NAMESPACE/NAME with a kind Kanister knows (pvc, deployment, statefulset, deploymentconfig, namespace)", "%v", o.Err))
			continue
		}
		if r.kube == nil {
			out = append(out, warn(id, name, "fix the API server line first", "not checked: the API server is not usable"))
			continue
		}
		out = append(out, checkObject(ctx, r, name, o.Ref))
	}
	return out
}

func checkObject(ctx context.Context, r *runner, name string, ref kanister.ObjectRef) Check {
	const id = "object"
	gvr, namespaced := kanister.ResourceOf(ref)
	ri := r.kube.dyn.Resource(gvr)
	var err error
	if namespaced {
		_, err = ri.Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	} else {
		_, err = ri.Get(ctx, ref.Name, metav1.GetOptions{})
	}
	what := describe(gvr, ref, namespaced)
	switch {
	case apierrors.IsNotFound(err):
		return broken(id, name, "create it first, or fix --object (the Kanister action fails when its object is missing)", "%s not found", what)
	case apierrors.IsForbidden(err):
		return notAllowed(id, name, "get "+what)
	case err != nil:
		return broken(id, name, adviceKubeconfig, "get %s: %v", what, err)
	}
	return ok(id, name, "%s exists; Kanister kind %q", what, kindOf(ref))
}

func describe(gvr schema.GroupVersionResource, ref kanister.ObjectRef, namespaced bool) string {
	res := gvr.Resource
	if gvr.Group != "" {
		res += "." + gvr.Group
	}
	if !namespaced {
		return fmt.Sprintf("%s %s", res, ref.Name)
	}
	return fmt.Sprintf("%s %s/%s", res, ref.Namespace, ref.Name)
}

func kindOf(ref kanister.ObjectRef) string {
	if ref.Kind != "" {
		return ref.Kind
	}
	return "generic (" + ref.Resource + ")"
}
