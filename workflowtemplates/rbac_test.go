package workflowtemplates

import (
	"context"
	"fmt"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"

	"github.com/mlstate/mlstate/pkg/testsupport"
)

// access is one request the steps' ServiceAccount makes (or must not).
type access struct {
	ns, verb, group, resource, name string
}

func (a access) String() string {
	return fmt.Sprintf("%s %s.%s %s in %s", a.verb, a.resource, a.group, a.name, a.ns)
}

// TestRBACGrantsWhatStepsDo applies rbac.yaml to the API server and asks
// it, through SubjectAccessReviews for the mlstate ServiceAccount, whether
// everything the steps and Argo's executor do is allowed, and a few things
// nobody needs are not.
func TestRBACGrantsWhatStepsDo(t *testing.T) {
	k := testsupport.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	applyFile(ctx, t, k, "rbac.yaml")

	const kan, app = "kanister", "ml"
	allowed := []access{
		{app, "create", "argoproj.io", "workflowtaskresults", ""},
		{app, "patch", "argoproj.io", "workflowtaskresults", "some-node"},
		{kan, "create", "cr.kanister.io", "actionsets", ""},
		{kan, "get", "cr.kanister.io", "actionsets", "backup-x"},
		{kan, "list", "cr.kanister.io", "actionsets", ""},
		{kan, "watch", "cr.kanister.io", "actionsets", ""},
		{kan, "get", "cr.kanister.io", "blueprints", "mlstate-pvc"},
		{kan, "get", "cr.kanister.io", "profiles", "mlstate-minio"},
		{kan, "list", "", "events", ""},
		{kan, "get", "", "secrets", "mlstate-minio-credentials"},
		{kan, "get", "", "secrets", "mlstate-restic-key"},
		{kan, "list", "apps", "deployments", ""},
		{kan, "list", "", "pods", ""},
		{app, "get", "", "persistentvolumeclaims", "checkpoints"},
	}
	denied := []access{
		{kan, "delete", "cr.kanister.io", "actionsets", "backup-x"},
		{kan, "create", "cr.kanister.io", "blueprints", ""},
		{kan, "get", "", "secrets", "some-other-secret"},
		{kan, "list", "", "secrets", ""},
		{app, "delete", "", "persistentvolumeclaims", "checkpoints"},
		{"default", "create", "cr.kanister.io", "actionsets", ""},
		{"", "list", "", "namespaces", ""},
	}
	sa := testsupport.ServiceAccount("ml", "mlstate")
	attrs := func(a access) authzv1.ResourceAttributes {
		return authzv1.ResourceAttributes{Namespace: a.ns, Verb: a.verb, Group: a.group, Resource: a.resource, Name: a.name}
	}
	// The authorizer sees a new grant some time after it is applied: wait
	// for every allowed access first. Once all show, the authorizer has
	// caught up with the file, and a denial is its settled answer.
	for _, a := range allowed {
		k.WaitAllowed(t, sa, attrs(a))
	}
	for _, a := range denied {
		ok, err := k.Allowed(ctx, sa, attrs(a))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			t.Errorf("workflowtemplates/rbac.yaml: mlstate may %s, want denied", a)
		}
	}
}

// applyFile server-side applies every object of one file of this directory.
func applyFile(ctx context.Context, t *testing.T, k *testsupport.KubeEnv, name string) {
	t.Helper()
	for _, d := range loadDocs(t) {
		if d.path != "workflowtemplates/"+name || !d.isManifest() {
			continue
		}
		if err := applyDoc(ctx, t, k, d); err != nil {
			t.Fatalf("%s: %v", d.path, err)
		}
	}
}
