package kanister

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

// ResourceOf is the resource Kanister reads for an object reference, and
// whether it is namespaced (pkg/param/param.go New: the known kinds by
// their typed clients, anything else by group, version and resource).
func ResourceOf(o ObjectRef) (schema.GroupVersionResource, bool) {
	switch strings.ToLower(o.Kind) {
	case "deployment":
		return schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, true
	case "statefulset":
		return schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}, true
	case "deploymentconfig":
		return schema.GroupVersionResource{Group: "apps.openshift.io", Version: "v1", Resource: "deploymentconfigs"}, true
	case "pvc":
		return schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, true
	case "namespace":
		return schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, false
	}
	return schema.GroupVersionResource{Group: o.Group, Version: o.APIVersion, Resource: o.Resource}, true
}

// checkTargets fails before anything is created when an action's object is
// gone: Kanister reads it before the first phase and would only fail the
// ActionSet at launch, with the bare API error. Objects this identity may
// not read are left to Kanister.
func (c *Client) checkTargets(ctx context.Context, actions []ActionSpec) error {
	for _, a := range actions {
		gvr, namespaced := ResourceOf(a.Object)
		if gvr.Resource == "" || gvr.Version == "" {
			continue // not a reference Kanister can resolve either; it leaves such an ActionSet without status
		}
		name, ns := a.Object.Name, a.Object.Namespace
		var err error
		if !namespaced {
			if strings.ToLower(a.Object.Kind) == "namespace" {
				name = ns
			}
			_, err = c.Dynamic.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
		} else {
			_, err = c.Dynamic.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		}
		switch {
		case err == nil:
		case apierrors.IsNotFound(err):
			return exitcode.With(exitcode.Precondition, fmt.Errorf(
				"the target of action %s, %s, does not exist (Kanister reads it before running anything): "+
					"create it again (for a restore, an empty PVC of the same name, size and storage class is enough: the restore fills it) "+
					"and rerun; nothing was started", a.Name, a.Object))
		case apierrors.IsForbidden(err):
			c.log().Debug("cannot check that the target exists; Kanister will", "object", a.Object.String(), "err", err)
		default:
			return classify(err, "get", gvr.Resource, ns, name)
		}
	}
	return nil
}
