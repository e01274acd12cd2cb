package preflight

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlstate/mlstate/pkg/kanister"
)

// permission is one verb on one resource that a step needs.
type permission struct {
	Verb, Group, Resource, Namespace, Name string
	// Preflight marks what only preflight itself needs: missing ones are
	// warnings, since snapshot and restore work without them.
	Preflight bool
}

func (p permission) String() string {
	res := p.Resource
	if p.Group != "" {
		res += "." + p.Group
	}
	if p.Name != "" {
		res += " " + p.Name
	}
	return fmt.Sprintf("%s %s in %s", p.Verb, res, p.Namespace)
}

// needed lists what snapshot and restore do (create ActionSets and follow
// them with get/list/watch, read events that explain a failure, read the
// Blueprint, read the targets) and what preflight itself reads.
func needed(o Options) []permission {
	ns := o.Namespace
	var out []permission
	for _, v := range []string{"create", "get", "list", "watch"} {
		out = append(out, permission{Verb: v, Group: kanister.Group, Resource: "actionsets", Namespace: ns})
	}
	out = append(out,
		permission{Verb: "get", Group: kanister.Group, Resource: "blueprints", Namespace: ns, Name: o.Blueprint},
		permission{Verb: "list", Resource: "events", Namespace: ns},
	)
	for _, obj := range o.Objects {
		if obj.Err != nil {
			continue
		}
		gvr, namespaced := kanister.ResourceOf(obj.Ref)
		p := permission{Verb: "get", Group: gvr.Group, Resource: gvr.Resource, Namespace: obj.Ref.Namespace, Name: obj.Ref.Name}
		if !namespaced {
			p.Namespace = ""
		}
		out = append(out, p)
	}
	out = append(out, permission{Verb: "list", Group: "apps", Resource: "deployments", Namespace: ns, Preflight: true})
	if o.Profile != nil {
		out = append(out, permission{Verb: "get", Group: kanister.Group, Resource: "profiles", Namespace: o.Profile.Namespace, Name: o.Profile.Name, Preflight: true})
	}
	for _, s := range o.Secrets {
		out = append(out, permission{Verb: "get", Resource: "secrets", Namespace: s.Namespace, Name: s.Name, Preflight: true})
	}
	return out
}

// checkPermissions asks the API server, with one SelfSubjectAccessReview
// per permission, whether this identity may do what the steps will do.
func checkPermissions(ctx context.Context, r *runner) []Check {
	const id, name = "permissions", "Permissions"
	who := r.identity(ctx)
	perms := needed(r.opts)
	if ref, ok := r.profileSecret(ctx); ok {
		perms = append(perms, permission{Verb: "get", Resource: "secrets", Namespace: ref.Namespace, Name: ref.Name, Preflight: true})
	}
	missing, err := r.denied(ctx, perms)
	if errors.Is(err, errReviewForbidden) {
		return []Check{warn(id, name, "allow SelfSubjectAccessReviews (the default system:basic-user ClusterRole does)",
			"not checked: %s may not create SelfSubjectAccessReviews", who)}
	}
	if err != nil {
		return []Check{broken(id, name, adviceKubeconfig, "%v", err)}
	}
	// The API server's RBAC authorizer learns of new Roles and bindings
	// through an informer, so a grant applied just before preflight (kubectl
	// apply -k workflowtemplates/ && preflight) can read as denied for a
	// moment. Ask again about what was denied before calling it missing.
	for deadline := time.Now().Add(grantSettle); len(missing) > 0 && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return []Check{broken(id, name, adviceKubeconfig, "access reviews: %v", ctx.Err())}
		case <-time.After(grantRecheck):
		}
		if missing, err = r.denied(ctx, missing); err != nil {
			return []Check{broken(id, name, adviceKubeconfig, "%v", err)}
		}
	}
	if len(missing) == 0 {
		return []Check{ok(id, name, "%s may do all %d things snapshot, restore and preflight need", who, len(perms))}
	}
	status, texts := Warning, make([]string, 0, len(missing))
	for _, p := range missing {
		if !p.Preflight {
			status = Broken
		}
		texts = append(texts, p.String())
	}
	c := Check{ID: id, Name: name, Status: status,
		Detail: fmt.Sprintf("%s may not: %s", who, strings.Join(texts, "; ")),
		Advice: "grant these rules (Role in each namespace, bound to this identity with a RoleBinding):\n" + roleRules(missing),
	}
	if status == Warning {
		c.Detail += " (only preflight's own checks need these)"
	}
	return []Check{c}
}

// grantSettle is how long preflight re-asks about denied permissions, in
// case they were granted a moment before; grantRecheck is how often.
const (
	grantSettle  = 5 * time.Second
	grantRecheck = 500 * time.Millisecond
)

var errReviewForbidden = errors.New("may not create SelfSubjectAccessReviews")

// denied asks the API server, one SelfSubjectAccessReview each, which of
// perms this identity may not do.
func (r *runner) denied(ctx context.Context, perms []permission) ([]permission, error) {
	var out []permission
	for _, p := range perms {
		review := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authzv1.ResourceAttributes{
				Namespace: p.Namespace, Verb: p.Verb, Group: p.Group, Resource: p.Resource, Name: p.Name,
			},
		}}
		res, err := r.kube.kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if apierrors.IsForbidden(err) {
			return nil, errReviewForbidden
		}
		if err != nil {
			return nil, fmt.Errorf("access review for %s: %w", p, err)
		}
		if !res.Status.Allowed {
			out = append(out, p)
		}
	}
	return out, nil
}

// identity names the caller for messages; it is best effort.
func (r *runner) identity(ctx context.Context) string {
	res, err := r.kube.kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || res.Status.UserInfo.Username == "" {
		return "this identity"
	}
	return res.Status.UserInfo.Username
}

// roleRules renders the missing permissions as Role rules, one block per
// namespace, merging verbs on the same resource.
func roleRules(missing []permission) string {
	type key struct{ ns, group, resource, name string }
	verbs := map[key][]string{}
	var keys []key
	for _, p := range missing {
		k := key{p.Namespace, p.Group, p.Resource, p.Name}
		if _, seen := verbs[k]; !seen {
			keys = append(keys, k)
		}
		verbs[k] = append(verbs[k], p.Verb)
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].ns < keys[j].ns })
	var b strings.Builder
	last := "\x00"
	for _, k := range keys {
		if k.ns != last {
			if k.ns == "" {
				b.WriteString("# ClusterRole rules (cluster-scoped resources):\n")
			} else {
				fmt.Fprintf(&b, "# Role rules in namespace %s:\n", k.ns)
			}
			last = k.ns
		}
		fmt.Fprintf(&b, "- apiGroups: [%q]\n  resources: [%q]\n", k.group, k.resource)
		if k.name != "" {
			fmt.Fprintf(&b, "  resourceNames: [%q]\n", k.name)
		}
		fmt.Fprintf(&b, "  verbs: [%s]\n", quoteAll(verbs[k]))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func quoteAll(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// profileSecret finds the Profile's credential Secret, when the Profile
// can be read, so its read permission is checked too.
func (r *runner) profileSecret(ctx context.Context) (kanister.ObjectRef, bool) {
	p := r.opts.Profile
	if p == nil {
		return kanister.ObjectRef{}, false
	}
	u, err := r.kube.dyn.Resource(kanister.ProfileGVR).Namespace(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		return kanister.ObjectRef{}, false
	}
	var doc profileDoc
	if roundTrip(u.Object, &doc) != nil {
		return kanister.ObjectRef{}, false
	}
	ref, _, _, problem := credentialRef(doc)
	return ref, problem == ""
}
