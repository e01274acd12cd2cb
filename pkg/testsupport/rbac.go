package testsupport

import (
	"context"
	"fmt"
	"testing"

	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Subject is who an access review asks about: a user name and the groups
// the API server would give it.
type Subject struct {
	User   string
	Groups []string
}

// ServiceAccount is the Subject a pod running as namespace/name is.
func ServiceAccount(namespace, name string) Subject {
	return Subject{
		User:   "system:serviceaccount:" + namespace + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
}

// Allowed asks the API server, with a SubjectAccessReview, whether who may
// do what. It is one read of the authorizer's current view: after a grant,
// use WaitAllowed.
func (k *KubeEnv) Allowed(ctx context.Context, who Subject, what authzv1.ResourceAttributes) (bool, error) {
	review := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: who.User, Groups: who.Groups, ResourceAttributes: &what,
	}}
	res, err := k.Clientset.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("access review for %s: %w", who.User, err)
	}
	return res.Status.Allowed, nil
}

// WaitAllowed waits until the authorizer allows who every access in what.
// The RBAC authorizer reads Roles and bindings through an informer, so a
// grant takes effect some time after its objects are created: milliseconds
// on a quiet machine, seconds on a loaded one.
func (k *KubeEnv) WaitAllowed(t testing.TB, who Subject, what ...authzv1.ResourceAttributes) {
	t.Helper()
	for _, a := range what {
		Eventually(t, 0, fmt.Sprintf("%s to be allowed to %s", who.User, describe(a)), func(ctx context.Context) (bool, string) {
			ok, err := k.Allowed(ctx, who, a)
			if err != nil {
				return false, err.Error()
			}
			return ok, "denied"
		})
	}
}

// Accesses expands Role rules in namespace ns into the single accesses they
// grant, for WaitAllowed.
func Accesses(ns string, rules []rbacv1.PolicyRule) []authzv1.ResourceAttributes {
	var out []authzv1.ResourceAttributes
	for _, r := range rules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					for _, n := range names {
						out = append(out, authzv1.ResourceAttributes{Namespace: ns, Verb: v, Group: g, Resource: res, Name: n})
					}
				}
			}
		}
	}
	return out
}

func describe(a authzv1.ResourceAttributes) string {
	res := a.Resource
	if a.Group != "" {
		res += "." + a.Group
	}
	if a.Name != "" {
		res += " " + a.Name
	}
	if a.Namespace == "" {
		return a.Verb + " " + res
	}
	return a.Verb + " " + res + " in " + a.Namespace
}
