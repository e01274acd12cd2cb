package preflight_test

import (
	"context"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/mlstate/mlstate/pkg/preflight"
	"github.com/mlstate/mlstate/pkg/preflight/preflighttest"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

func TestAPIServerUnreachable(t *testing.T) {
	_, opts := setup(t)
	opts.Cluster = &rest.Config{Host: "https://127.0.0.1:1"}
	opts.Timeout = 5 * time.Second
	list := run(t, opts)
	expect(t, list, "api", preflight.Broken, "https://127.0.0.1:1 does not answer", "check --kubeconfig")
	expect(t, list, "kanister", preflight.Warning, "not checked", "fix the API server line first")
	for _, id := range []string{"crds", "controller", "blueprint", "profile", "permissions"} {
		if _, ok := list.Find(id); ok {
			t.Errorf("%s checked without an API server", id)
		}
	}
	// What does not need the cluster is still checked.
	expect(t, list, "store", preflight.OK, "write, read and delete", "")
	expect(t, list, "object", preflight.Warning, "not checked", "")
}

// TestCRDsMissing removes the Profile CRD for the duration of the test
// (this package's API server only) and puts it back.
func TestCRDsMissing(t *testing.T) {
	_, opts := setup(t)
	k := testsupport.Kube(t)
	ext, err := apiextensionsclient.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	crds, err := testsupport.KanisterCRDs()
	if err != nil {
		t.Fatal(err)
	}
	profileCRD := crds[2]
	if err := ext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, profileCRD.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, profileCRD.DeepCopy(), metav1.CreateOptions{})
			return err == nil, nil // retried while the old one is still terminating
		})
		if err != nil {
			t.Fatalf("re-create %s: %v", profileCRD.Name, err)
		}
		waitServed(t, k, "profiles", true)
	})
	waitServed(t, k, "profiles", false)
	list := run(t, opts)
	expect(t, list, "crds", preflight.Broken, "serves no profiles.cr.kanister.io", "helm install kanister")
}

func waitServed(t *testing.T, k *testsupport.KubeEnv, resource string, want bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		res, err := k.Clientset.Discovery().ServerResourcesForGroupVersion("cr.kanister.io/v1alpha1")
		if err != nil {
			return false, nil
		}
		for _, r := range res.APIResources {
			if r.Name == resource {
				return want, nil
			}
		}
		return !want, nil
	})
	if err != nil {
		t.Fatalf("wait for %s served=%v: %v", resource, want, err)
	}
}

func TestControllerBroken(t *testing.T) {
	ctx := context.Background()
	t.Run("missing", func(t *testing.T) {
		e, opts := setup(t)
		if err := e.Kube.Clientset.AppsV1().Deployments(e.Namespace).Delete(ctx, preflighttest.Controller, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.ControllerDeployment(ctx, t, "unrelated", map[string]string{"app": "web"}, "nginx:1.27", 1)
		list := run(t, opts)
		expect(t, list, "controller", preflight.Broken, "no Deployment in namespace "+e.Namespace+" looks like Kanister's controller", "install Kanister in namespace "+e.Namespace)
		others(t, list, "controller")
	})
	t.Run("not ready", func(t *testing.T) {
		e, opts := setup(t)
		if err := e.Kube.Clientset.AppsV1().Deployments(e.Namespace).Delete(ctx, preflighttest.Controller, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.ControllerDeployment(ctx, t, "kanister-op", map[string]string{"app": "kanister-operator"}, "ghcr.io/kanisterio/controller:0.119.0", 0)
		list := run(t, opts)
		expect(t, list, "controller", preflight.Broken, "kanister-op: 0/1 replicas ready (recognised by label app=kanister-operator)",
			"kubectl -n "+e.Namespace+" describe deployment kanister-op")
		others(t, list, "controller")
	})
}

func TestBlueprintBroken(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		e, opts := setup(t)
		opts.Blueprint = "never-applied"
		list := run(t, opts)
		expect(t, list, "blueprint", preflight.Broken, "blueprint "+e.Namespace+"/never-applied not found", "kubectl apply -n "+e.Namespace)
		others(t, list, "blueprint")
	})
	t.Run("static checks", func(t *testing.T) {
		e, opts := setup(t)
		// No delete action, and a restic phase on Kanister's default key.
		e.ApplyBlueprint(context.Background(), t, "half", `
actions:
  backup:
    outputArtifacts:
      volBackup: {keyValue: {backupTag: "{{ .Phases.copy.Output.backupTag }}"}}
    phases:
    - func: CopyVolumeData
      name: copy
      args: {namespace: "{{ .PVC.Namespace }}", volume: "{{ .PVC.Name }}", dataArtifactPrefix: ml}
  restore:
    phases:
    - func: RestoreData
      name: restoreData
      args: {namespace: ns, image: img, backupArtifactPrefix: ml, pod: p, backupTag: "{{ .ArtifactsIn.volBackup.KeyValue.backupTag }}", encryptionKey: k}
`)
		opts.Blueprint = "half"
		list := run(t, opts)
		c := expect(t, list, "blueprint", preflight.Broken, "action delete: missing", "fix the Blueprint and re-apply it")
		expect(t, preflight.Checklist{c}, "blueprint", preflight.Broken, "built-in default key", "")
		others(t, list, "blueprint")
	})
}

func TestSecretMissing(t *testing.T) {
	e, opts := setup(t)
	ref := opts.Secrets["encryptionKey"]
	ref.Name = "no-such-key"
	opts.Secrets["encryptionKey"] = ref
	list := run(t, opts)
	expect(t, list, "secret", preflight.Broken, "secret "+e.Namespace+"/no-such-key (read by the Blueprint as .Secrets.encryptionKey) not found", "kubectl -n "+e.Namespace+" create secret generic no-such-key")
	others(t, list, "secret")
}

func TestObjectsBroken(t *testing.T) {
	e, opts := setup(t)
	opts.Objects = preflight.ParseObjects([]string{
		"PersistentVolumeClaim/" + e.AppNamespace + "/data",
		"pvc/" + e.AppNamespace + "/gone",
		"pvc/" + e.AppNamespace + "/data",
	})
	list := run(t, opts)
	if len(list) < 3 {
		t.Fatal("short checklist")
	}
	var lines preflight.Checklist
	for _, c := range list {
		if c.ID == "object" {
			lines = append(lines, c)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("%d object lines, want 3", len(lines))
	}
	expect(t, lines[0:1], "object", preflight.Broken, `use pvc (e.g. pvc/NAMESPACE/NAME)`, "with a kind Kanister knows")
	expect(t, lines[1:2], "object", preflight.Broken, "persistentvolumeclaims "+e.AppNamespace+"/gone not found", "create it first, or fix --object")
	expect(t, lines[2:3], "object", preflight.OK, "exists", "")
	// The unparsable object is left out of the permission check, the
	// missing one is still a permission snapshot needs.
	others(t, list, "object")
}

func TestPermissionsMissing(t *testing.T) {
	t.Run("nothing granted", func(t *testing.T) {
		e, opts := setup(t)
		opts.Cluster = e.Kube.UserConfig(t, "nobody-"+e.Namespace)
		list := run(t, opts)
		c := expect(t, list, "permissions", preflight.Broken, "nobody-"+e.Namespace+" may not: create actionsets.cr.kanister.io in "+e.Namespace,
			"# Role rules in namespace "+e.Namespace+":\n- apiGroups: [\"cr.kanister.io\"]\n  resources: [\"actionsets\"]\n  verbs: [\"create\", \"get\", \"list\", \"watch\"]")
		expect(t, preflight.Checklist{c}, "permissions", preflight.Broken, "get persistentvolumeclaims data in "+e.AppNamespace,
			"# Role rules in namespace "+e.AppNamespace+":\n- apiGroups: [\"\"]\n  resources: [\"persistentvolumeclaims\"]\n  resourceNames: [\"data\"]\n  verbs: [\"get\"]")
		// Checks the identity may not perform say so instead of guessing.
		expect(t, list, "controller", preflight.Warning, "not checked: this identity may not list deployments", "Permissions line")
		expect(t, list, "blueprint", preflight.Warning, "may not get blueprints", "")
		expect(t, list, "object", preflight.Warning, "may not get persistentvolumeclaims", "")
	})
	t.Run("only preflight's own", func(t *testing.T) {
		e, opts := setup(t)
		user := e.Kube.UserConfig(t, "snap-"+e.Namespace)
		e2 := *e
		e2.UserName = "snap-" + e.Namespace
		rules := preflighttest.KanisterRules()
		rules = rules[:3] // actionsets, blueprints+profiles, events: no secrets, no deployments
		ctx := context.Background()
		e2.Grant(ctx, t, e.Namespace, rules)
		e2.Grant(ctx, t, e.AppNamespace, []rbacRule{{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get"}}})
		opts.Cluster = user
		list := run(t, opts)
		expect(t, list, "permissions", preflight.Warning, "list deployments.apps in "+e.Namespace, "resources: [\"deployments\"]")
		expect(t, list, "permissions", preflight.Warning, "only preflight's own checks need these", "")
		expect(t, list, "controller", preflight.Warning, "not checked", "")
	})
}

// TestPermissionsGrantedJustBefore is a user who applies the RBAC and runs
// preflight at once: the grant lands while preflight is checking, and the
// authorizer sees it a moment later. Preflight re-asks before calling a
// permission missing, so the line is ok.
func TestPermissionsGrantedJustBefore(t *testing.T) {
	e, opts := setup(t)
	late := *e
	late.UserName = "late-" + e.Namespace
	opts.Cluster = e.Kube.UserConfig(t, late.UserName)
	late.AllowAccessReviews(context.Background(), t) // cluster-wide, for the controller's line; not the grant under test
	granted := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond) // after preflight's first round of reviews
		ctx := context.Background()
		err := late.GrantNoWait(ctx, e.Namespace, preflighttest.KanisterRules())
		if err == nil {
			err = late.GrantNoWait(ctx, e.AppNamespace, []rbacRule{{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get"}}})
		}
		granted <- err
	}()
	list := run(t, opts)
	if err := <-granted; err != nil {
		t.Fatal(err)
	}
	expect(t, list, "permissions", preflight.OK, late.UserName+" may do all", "")
	others(t, list)
}

type rbacRule = rbacv1.PolicyRule
