package preflight_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/mlstate/mlstate/pkg/preflight"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// TestStagePods: a Blueprint that runs the stage image in Kanister's pods
// (the shipped mlstate-stage) needs a store those pods reach and the store
// Secret in the object's namespace; preflight says which is missing.
func TestStagePods(t *testing.T) {
	e, opts := setup(t)
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(testsupport.RepoRoot(t), "workflowtemplates/blueprints/stage.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var shipped map[string]any
	if err := yaml.Unmarshal(data, &shipped); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"actions": shipped["actions"]})
	e.ApplyBlueprint(ctx, t, "mlstate-stage", string(body))
	opts.Blueprint, opts.Profile, opts.Secrets = "mlstate-stage", nil, nil

	// Without the right to read Secrets in the application namespace the
	// line says it could not check, and how to check by hand.
	list := run(t, opts)
	expect(t, list, "stage-pods", preflight.Warning, "not checked: this identity may not get secret "+e.AppNamespace+"/mlstate-store", "kubectl -n "+e.AppNamespace+" get secret mlstate-store")

	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}
	rbac := e.Kube.Clientset.RbacV1()
	if _, err := rbac.Roles(e.AppNamespace).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "read-secrets"}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.RoleBindings(e.AppNamespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "read-secrets"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read-secrets"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: e.UserName}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.Kube.WaitAllowed(t, testsupport.Subject{User: e.UserName}, testsupport.Accesses(e.AppNamespace, rules)...)
	list = run(t, opts)
	expect(t, list, "stage-pods", preflight.Broken, "secret "+e.AppNamespace+"/mlstate-store not found", "kubectl -n "+e.AppNamespace+" create secret generic mlstate-store")

	e.CreateSecret(ctx, t, e.AppNamespace, "mlstate-store", map[string]string{"aws_access_key_id": "a"})
	list = run(t, opts)
	expect(t, list, "stage-pods", preflight.Broken, "lacks aws_secret_access_key", "add the keys")

	opts.StoreSecret = "team-store"
	e.CreateSecret(ctx, t, e.AppNamespace, "team-store", map[string]string{"aws_access_key_id": "a", "aws_secret_access_key": "s"})
	list = run(t, opts)
	expect(t, list, "stage-pods", preflight.OK, "secret "+e.AppNamespace+"/team-store holds the store credentials", "")
	others(t, list, "stage-pods")

	file := opts
	file.StoreURL = "file://" + t.TempDir()
	list = run(t, file)
	expect(t, list, "stage-pods", preflight.Broken, "cannot see this pod's file:// store", "use an s3:// store")

	// A Blueprint that does not run the stage image gets no line.
	plain := e.Options()
	if _, found := run(t, plain).Find("stage-pods"); found {
		t.Error("a stage-pods line for a Blueprint that does not read the store option")
	}
}
