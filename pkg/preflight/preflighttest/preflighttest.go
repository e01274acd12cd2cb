// Package preflighttest builds, on the test API server and the test MinIO,
// a setup that passes every preflight check, for the tests of pkg/preflight
// and of the preflight step. Tests then break one link and look at its line.
package preflighttest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"

	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/preflight"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// Names used by the setup.
const (
	Blueprint  = "mlstate-pvc"
	Profile    = "minio"
	CredSecret = "minio-creds"
	KeySecret  = "restic-key"
	PVC        = "data"
	Pipeline   = "train"
	Controller = "kanister-kanister-operator"
)

// ValidBlueprint passes pkg/blueprint's checks: backup, restore and delete
// actions, restic phases with their own key, restore and delete reading
// only what the backup produces.
const ValidBlueprint = `
actions:
  backup:
    outputArtifacts:
      volBackup:
        keyValue:
          backupTag: "{{ .Phases.copy.Output.backupTag }}"
    phases:
    - func: CopyVolumeData
      name: copy
      args:
        namespace: "{{ .PVC.Namespace }}"
        volume: "{{ .PVC.Name }}"
        dataArtifactPrefix: ml-state/{{ .PVC.Name }}
        encryptionKey: '{{ index .Secrets.encryptionKey.Data "key" | toString }}'
  restore:
    phases:
    - func: RestoreData
      name: restoreData
      args:
        namespace: "{{ .PVC.Namespace }}"
        image: ghcr.io/kanisterio/kanister-tools:0.119.0
        backupArtifactPrefix: ml-state/{{ .PVC.Name }}
        backupTag: "{{ .ArtifactsIn.volBackup.KeyValue.backupTag }}"
        volumes: {"{{ .PVC.Name }}": /mnt/data}
        encryptionKey: '{{ index .Secrets.encryptionKey.Data "key" | toString }}'
  delete:
    phases:
    - func: DeleteData
      name: deleteData
      args:
        namespace: "{{ .PVC.Namespace }}"
        backupArtifactPrefix: ml-state/{{ .PVC.Name }}
        backupTag: "{{ .ArtifactsIn.volBackup.KeyValue.backupTag }}"
        encryptionKey: '{{ index .Secrets.encryptionKey.Data "key" | toString }}'
`

// Env is one all-fine setup: a Kanister namespace with a ready controller
// Deployment, the Blueprint, a Profile on the test MinIO with its Secret
// and the restic key Secret; an application namespace with a PVC; a user
// with exactly the rights preflight asks for; a store bucket and a staged
// directory.
type Env struct {
	Kube         *testsupport.KubeEnv
	MinIO        *testsupport.MinIOServer
	Namespace    string // Kanister's
	AppNamespace string
	Bucket       string // the Profile's
	StoreURL     string
	User         *rest.Config
	UserName     string
	Stage        string
}

// Setup creates the environment; everything is per test (namespaces,
// buckets, user).
func Setup(t *testing.T) *Env {
	t.Helper()
	k := testsupport.Kube(t)
	s := testsupport.MinIO(t)
	e := &Env{Kube: k, MinIO: s, Namespace: k.Namespace(t, "kanister"), AppNamespace: k.Namespace(t, "ml")}
	e.Bucket = s.Bucket(t)
	e.StoreURL = s.StoreURL(t, "mlstate")
	e.UserName = "preflight-" + e.Namespace
	e.User = k.UserConfig(t, e.UserName)
	e.Stage = t.TempDir()
	if err := os.WriteFile(filepath.Join(e.Stage, "config.yaml"), []byte("lr: 0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.ControllerDeployment(ctx, t, Controller, map[string]string{"app.kubernetes.io/name": "kanister-operator"}, "ghcr.io/kanisterio/controller:0.119.0", 1)
	e.ApplyBlueprint(ctx, t, Blueprint, ValidBlueprint)
	e.CreateSecret(ctx, t, e.Namespace, CredSecret, map[string]string{"aws_access_key_id": s.AccessKey, "aws_secret_access_key": s.SecretKey})
	e.CreateSecret(ctx, t, e.Namespace, KeySecret, map[string]string{"key": "not-the-default"})
	e.ApplyProfile(ctx, t, Profile, e.ProfileObject(e.Bucket, s.URL, "us-east-1"))
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: PVC},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	must(t, "create pvc", func() error {
		_, err := k.Clientset.CoreV1().PersistentVolumeClaims(e.AppNamespace).Create(ctx, pvc, metav1.CreateOptions{})
		return err
	})
	e.Grant(ctx, t, e.Namespace, KanisterRules())
	e.Grant(ctx, t, e.AppNamespace, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get"}}})
	e.GrantControllerSecrets(ctx, t)
	e.AllowAccessReviews(ctx, t)
	return e
}

// ControllerSecretsRole names the Role that lets the controller's
// ServiceAccount read the Profile's Secret and the restic key.
const ControllerSecretsRole = "kanister-operator-secrets"

// GrantControllerSecrets lets the controller's ServiceAccount get the
// Secrets of the Kanister namespace (rbac.yaml names them; here any, so
// that tests pointing the Profile at other Secrets break only their own
// line), and waits until the authorizer says so.
func (e *Env) GrantControllerSecrets(ctx context.Context, t *testing.T) {
	t.Helper()
	rbac := e.Kube.Clientset.RbacV1()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: ControllerSecretsRole}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ControllerSecretsRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: ControllerSecretsRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: Controller, Namespace: e.Namespace}},
	}
	must(t, "create controller role", func() error { _, err := rbac.Roles(e.Namespace).Create(ctx, role, metav1.CreateOptions{}); return err })
	must(t, "create controller rolebinding", func() error {
		_, err := rbac.RoleBindings(e.Namespace).Create(ctx, binding, metav1.CreateOptions{})
		return err
	})
	e.Kube.WaitAllowed(t, testsupport.ServiceAccount(e.Namespace, Controller), authzv1.ResourceAttributes{
		Namespace: e.Namespace, Verb: "get", Resource: "secrets", Name: KeySecret})
}

// AllowAccessReviews lets the user create SubjectAccessReviews (a
// cluster-wide grant, removed when the test ends), which preflight needs
// to check the controller's rights, and waits until it takes effect.
func (e *Env) AllowAccessReviews(ctx context.Context, t *testing.T) {
	t.Helper()
	rbac := e.Kube.Clientset.RbacV1()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: e.UserName + "-access-reviews"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}}}}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: e.UserName + "-access-reviews"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: e.UserName}},
	}
	must(t, "create clusterrole", func() error { _, err := rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); return err })
	t.Cleanup(func() { _ = rbac.ClusterRoles().Delete(context.Background(), role.Name, metav1.DeleteOptions{}) })
	must(t, "create clusterrolebinding", func() error {
		_, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
		return err
	})
	t.Cleanup(func() {
		_ = rbac.ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})
	e.Kube.WaitAllowed(t, testsupport.Subject{User: e.UserName}, authzv1.ResourceAttributes{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"})
}

// KanisterRules are the rights preflight checks for in the Kanister
// namespace (snapshot's, restore's and its own).
func KanisterRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{kanister.Group}, Resources: []string{"actionsets"}, Verbs: []string{"create", "get", "list", "watch"}},
		{APIGroups: []string{kanister.Group}, Resources: []string{"blueprints", "profiles"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"list"}},
	}
}

// Options are preflight's options for the all-fine setup, as the user.
func (e *Env) Options() preflight.Options {
	return preflight.Options{
		Cluster:   e.User,
		Namespace: e.Namespace,
		Blueprint: Blueprint,
		Profile:   &kanister.ObjectRef{Namespace: e.Namespace, Name: Profile},
		Objects:   preflight.ParseObjects([]string{"pvc/" + e.AppNamespace + "/" + PVC}),
		Secrets: map[string]kanister.ObjectRef{
			"encryptionKey": {Kind: "Secret", APIVersion: "v1", Namespace: e.Namespace, Name: KeySecret},
		},
		StoreURL:     e.StoreURL,
		StoreOptions: storeurl.Options{Getenv: e.Getenv},
		Pipeline:     Pipeline,
		Stage:        []string{e.Stage},
		Timeout:      20 * time.Second,
	}
}

// Getenv gives the store credentials, as the step's environment would.
func (e *Env) Getenv(name string) string { return e.MinIO.Env()[name] }

// Args are the step's flags for the all-fine setup (without --kubeconfig
// and --outputs-dir).
func (e *Env) Args() []string {
	return []string{
		"--store", e.StoreURL, "--pipeline", Pipeline,
		"--kanister-namespace", e.Namespace,
		"--object", "pvc/" + e.AppNamespace + "/" + PVC,
		"--blueprint", Blueprint, "--profile", e.Namespace + "/" + Profile,
		"--secret", "encryptionKey=" + e.Namespace + "/" + KeySecret,
		"--stage", e.Stage, "--check-timeout", "20s",
	}
}

// ControllerDeployment creates a Deployment and sets its status as the
// Deployment controller (absent in envtest) would.
func (e *Env) ControllerDeployment(ctx context.Context, t *testing.T, name string, labels map[string]string, image string, ready int32) {
	t.Helper()
	sel := map[string]string{"mlstate-test/deployment": name}
	podLabels := map[string]string{}
	for k, v := range labels {
		podLabels[k] = v
	}
	for k, v := range sel {
		podLabels[k] = v
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(max(1, ready)),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{ServiceAccountName: Controller, // the chart's, whatever the Deployment is called
					Containers: []corev1.Container{{Name: "controller", Image: image}}},
			},
		},
	}
	deps := e.Kube.Clientset.AppsV1().Deployments(e.Namespace)
	var got *appsv1.Deployment
	must(t, "create deployment", func() (err error) { got, err = deps.Create(ctx, d, metav1.CreateOptions{}); return err })
	got.Status = appsv1.DeploymentStatus{Replicas: max(1, ready), ReadyReplicas: ready, AvailableReplicas: ready, UpdatedReplicas: max(1, ready), ObservedGeneration: got.Generation}
	must(t, "set deployment status", func() error { _, err := deps.UpdateStatus(ctx, got, metav1.UpdateOptions{}); return err })
}

// ApplyBlueprint creates a Blueprint in the Kanister namespace from YAML
// holding its actions.
func (e *Env) ApplyBlueprint(ctx context.Context, t *testing.T, name, body string) {
	t.Helper()
	bp := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(body), &bp.Object); err != nil {
		t.Fatal(err)
	}
	bp.SetAPIVersion(kanister.Group + "/" + kanister.Version)
	bp.SetKind("Blueprint")
	bp.SetName(name)
	must(t, "create blueprint", func() error {
		_, err := e.Kube.Dynamic.Resource(kanister.BlueprintGVR).Namespace(e.Namespace).Create(ctx, bp, metav1.CreateOptions{})
		return err
	})
}

// ProfileObject is an s3Compliant keyPair Profile body referring to
// CredSecret.
func (e *Env) ProfileObject(bucket, endpoint, region string) map[string]any {
	return map[string]any{
		"location": map[string]any{"type": "s3Compliant", "bucket": bucket, "endpoint": endpoint, "region": region, "prefix": "kanister"},
		"credential": map[string]any{"type": "keyPair", "keyPair": map[string]any{
			"idField": "aws_access_key_id", "secretField": "aws_secret_access_key",
			"secret": map[string]any{"apiVersion": "v1", "kind": "Secret", "name": CredSecret, "namespace": e.Namespace},
		}},
		"skipSSLVerify": false,
	}
}

// ApplyProfile creates a Profile in the Kanister namespace.
func (e *Env) ApplyProfile(ctx context.Context, t *testing.T, name string, body map[string]any) {
	t.Helper()
	p := &unstructured.Unstructured{Object: body}
	p.SetAPIVersion(kanister.Group + "/" + kanister.Version)
	p.SetKind("Profile")
	p.SetName(name)
	must(t, "create profile", func() error {
		_, err := e.Kube.Dynamic.Resource(kanister.ProfileGVR).Namespace(e.Namespace).Create(ctx, p, metav1.CreateOptions{})
		return err
	})
}

// CreateSecret creates an Opaque Secret.
func (e *Env) CreateSecret(ctx context.Context, t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}
	must(t, "create secret", func() error {
		_, err := e.Kube.Clientset.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
		return err
	})
}

// Grant gives the user the rules in namespace ns (a Role and a
// RoleBinding named after the user) and waits until the API server's
// authorizer applies them, so the checks that follow see the grant.
func (e *Env) Grant(ctx context.Context, t *testing.T, ns string, rules []rbacv1.PolicyRule) {
	t.Helper()
	must(t, "grant", func() error { return e.GrantNoWait(ctx, ns, rules) })
	e.Kube.WaitAllowed(t, testsupport.Subject{User: e.UserName}, testsupport.Accesses(ns, rules)...)
}

// GrantNoWait creates Grant's Role and RoleBinding and returns at once, as
// a user's kubectl apply does: the authorizer applies them a moment later.
func (e *Env) GrantNoWait(ctx context.Context, ns string, rules []rbacv1.PolicyRule) error {
	rbac := e.Kube.Clientset.RbacV1()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: e.UserName}, Rules: rules}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: e.UserName},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: e.UserName},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: e.UserName}},
	}
	if _, err := rbac.Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create role %s/%s: %w", ns, role.Name, err)
	}
	if _, err := rbac.RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create rolebinding %s/%s: %w", ns, binding.Name, err)
	}
	return nil
}

func must(t *testing.T, what string, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func ptr[T any](v T) *T { return &v }
