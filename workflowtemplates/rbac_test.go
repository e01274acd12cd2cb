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
	check := func(a access, want bool) { checkAccess(ctx, t, k, "mlstate", a, want) }
	for _, a := range allowed {
		check(a, true)
	}
	for _, a := range denied {
		check(a, false)
	}
}

// TestExecutorIdentityHoldsNoBackupRights: training steps, guard and the
// store-only templates run as mlstate-executor, which may report outputs
// and nothing else, so user code cannot read the backup keys or start a
// Kanister action (the CSI restore deletes PVCs).
func TestExecutorIdentityHoldsNoBackupRights(t *testing.T) {
	k := testsupport.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	applyFile(ctx, t, k, "rbac.yaml")
	const kan, app = "kanister", "ml"
	checkAccess(ctx, t, k, "mlstate-executor", access{app, "create", "argoproj.io", "workflowtaskresults", ""}, true)
	checkAccess(ctx, t, k, "mlstate-executor", access{app, "patch", "argoproj.io", "workflowtaskresults", "some-node"}, true)
	for _, a := range []access{
		{kan, "create", "cr.kanister.io", "actionsets", ""},
		{kan, "get", "cr.kanister.io", "actionsets", "backup-x"},
		{kan, "get", "", "secrets", "mlstate-restic-key"},
		{kan, "get", "", "secrets", "mlstate-minio-credentials"},
		{app, "get", "", "secrets", "mlstate-store"},
		{kan, "get", "cr.kanister.io", "profiles", "mlstate-minio"},
		{app, "get", "", "persistentvolumeclaims", "checkpoints"},
		{app, "delete", "", "persistentvolumeclaims", "checkpoints"},
	} {
		checkAccess(ctx, t, k, "mlstate-executor", a, false)
	}
}

// checkAccess asks the API server whether ServiceAccount ml/sa may do a.
// The grants were just applied and the authorizer reads RBAC from an
// informer cache, so an allowed answer is polled for until the deadline. A
// denial is read once: callers check it after an allowed answer for the
// same ServiceAccount showed its bindings are loaded (a denial seen before
// that would prove nothing).
func checkAccess(ctx context.Context, t *testing.T, k *testsupport.KubeEnv, sa string, a access, want bool) {
	t.Helper()
	who := testsupport.ServiceAccount("ml", sa)
	attrs := authzv1.ResourceAttributes{Namespace: a.ns, Verb: a.verb, Group: a.group, Resource: a.resource, Name: a.name}
	if want {
		k.WaitAllowed(t, who, attrs)
		return
	}
	ok, err := k.Allowed(ctx, who, attrs)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Errorf("workflowtemplates/rbac.yaml: %s may %s, want denied", sa, a)
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
