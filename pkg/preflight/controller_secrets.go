package preflight

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlstate/mlstate/pkg/kanister"
)

// freshGrantWait is how long a denial is re-asked before it counts: the
// API server's authorizer learns of a Role or RoleBinding applied a moment
// ago only through its informers.
const freshGrantWait = 3 * time.Second

// checkControllerSecrets asks whether Kanister's controller may read the
// Secrets an action needs. Kanister reads the Profile's credential Secret
// and every Secret the ActionSet names with the controller's own
// ServiceAccount before it runs the first phase (pkg/param/param.go, New),
// and the chart's ClusterRole grants no Secret access, so without a Role
// every action fails at launch. The answer comes from a SubjectAccessReview
// for that ServiceAccount; an identity that may not create one gets a
// warning naming what was not checked.
func checkControllerSecrets(ctx context.Context, r *runner) []Check {
	const id, name = "controller-secrets", "Kanister controller's Secret access"
	secrets := r.controllerSecrets(ctx)
	if len(secrets) == 0 {
		return []Check{ok(id, name, "not used: no Profile credential Secret and no --secret")}
	}
	names := make([]string, len(secrets))
	for i, s := range secrets {
		names[i] = s.Namespace + "/" + s.Name
	}
	list := strings.Join(names, ", ")
	ns := r.opts.Namespace
	ctrl, err := kanister.FindControllers(ctx, r.kube.kube, ns, r.opts.ControllerSelector)
	switch {
	case apierrors.IsForbidden(err):
		return []Check{warn(id, name, "make sure the controller's ServiceAccount may get these Secrets (workflowtemplates/rbac.yaml has the Role)",
			"not checked: this identity may not list deployments in namespace %s, so the controller's ServiceAccount is unknown; it must be able to get Secrets %s", ns, list)}
	case err != nil:
		return []Check{broken(id, name, adviceKubeconfig, "list deployments in %s: %v", ns, err)}
	case len(ctrl) == 0:
		return nil // the controller line is broken; there is no ServiceAccount to ask about
	}
	sa := ctrl[0].ServiceAccount()
	user := "system:serviceaccount:" + ctrl[0].Namespace + ":" + sa
	var denied []kanister.ObjectRef
	for _, s := range secrets {
		allowed, err := r.reviewFor(ctx, user, ctrl[0].Namespace, s)
		if apierrors.IsForbidden(err) {
			return []Check{warn(id, name,
				fmt.Sprintf("allow this identity to create subjectaccessreviews.authorization.k8s.io, or check by hand: kubectl auth can-i get secret/%s -n %s --as %s", s.Name, s.Namespace, user),
				"not checked: this identity may not create SubjectAccessReviews; ServiceAccount %s must be able to get Secrets %s", user, list)}
		}
		if err != nil {
			return []Check{broken(id, name, adviceKubeconfig, "access review for %s on secret %s/%s: %v", user, s.Namespace, s.Name, err)}
		}
		if !allowed {
			denied = append(denied, s)
		}
	}
	if len(denied) == 0 {
		return []Check{ok(id, name, "ServiceAccount %s may get Secrets %s", user, list)}
	}
	var missing []permission
	var texts []string
	for _, s := range denied {
		missing = append(missing, permission{Verb: "get", Resource: "secrets", Namespace: s.Namespace, Name: s.Name})
		texts = append(texts, s.Namespace+"/"+s.Name)
	}
	return []Check{{ID: id, Name: name, Status: Broken,
		Detail: fmt.Sprintf("ServiceAccount %s (the controller's) may not get Secrets %s: every action would fail at launch with \"secrets ... is forbidden\"",
			user, strings.Join(texts, ", ")),
		Advice: fmt.Sprintf("grant these rules in a Role bound to ServiceAccount %s/%s (workflowtemplates/rbac.yaml has one for the default names):\n%s",
			ctrl[0].Namespace, sa, roleRules(missing)),
	}}
}

// controllerSecrets are the Secrets Kanister reads for an action: the
// Profile's credential Secret (when the Profile can be read) and every
// --secret, sorted and without repeats.
func (r *runner) controllerSecrets(ctx context.Context) []kanister.ObjectRef {
	seen := map[string]bool{}
	var out []kanister.ObjectRef
	add := func(s kanister.ObjectRef) {
		if k := s.Namespace + "/" + s.Name; !seen[k] {
			seen[k] = true
			out = append(out, kanister.ObjectRef{Namespace: s.Namespace, Name: s.Name})
		}
	}
	if ref, ok := r.profileSecret(ctx); ok {
		add(ref)
	}
	for _, s := range r.opts.Secrets {
		add(s)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out
}

// reviewFor asks whether user (a ServiceAccount of namespace saNS) may get
// secret s. A denial is re-asked for freshGrantWait, since a grant made a
// moment ago reaches the authorizer late.
func (r *runner) reviewFor(ctx context.Context, user, saNS string, s kanister.ObjectRef) (bool, error) {
	review := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User:   user,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + saNS, "system:authenticated"},
		ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: s.Namespace, Verb: "get", Resource: "secrets", Name: s.Name,
		},
	}}
	deadline := time.Now().Add(freshGrantWait)
	for {
		res, err := r.kube.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		if res.Status.Allowed || time.Now().After(deadline) {
			return res.Status.Allowed, nil
		}
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}
