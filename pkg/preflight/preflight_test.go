package preflight_test

import (
	"context"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/preflight"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
)

func TestAllFine(t *testing.T) {
	e, opts := setup(t)
	list := run(t, opts)
	others(t, list)
	for _, id := range []string{"api", "crds", "controller", "blueprint", "secret", "profile", "bucket", "object", "permissions", "store", "restore-point", "stage"} {
		if _, ok := list.Find(id); !ok {
			t.Errorf("no %s line", id)
		}
	}
	expect(t, list, "controller", preflight.OK, "recognised by label app.kubernetes.io/name=kanister-operator", "")
	expect(t, list, "crds", preflight.OK, "cr.kanister.io/v1alpha1", "")
	expect(t, list, "permissions", preflight.OK, e.UserName, "")
	assertNothingLeft(t, e.MinIO.Client, e.Bucket, e.StoreURL, e.Getenv)
	sets, err := e.Kube.Dynamic.Resource(kanister.ActionSetGVR).Namespace(e.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(sets.Items) != 0 {
		t.Errorf("ActionSets after preflight: %d (%v), want none", len(sets.Items), err)
	}
}

// TestControllerByImage covers installs without the chart's labels.
func TestControllerByImage(t *testing.T) {
	e, opts := setup(t)
	ctx := context.Background()
	if err := e.Kube.Clientset.AppsV1().Deployments(e.Namespace).Delete(ctx, "kanister-kanister-operator", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.ControllerDeployment(ctx, t, "kanister", map[string]string{"team": "platform"}, "registry.local/kanisterio/controller:0.119.0", 2)
	list := run(t, opts)
	expect(t, list, "controller", preflight.OK, "recognised by image registry.local/kanisterio/controller:0.119.0", "")

	// An explicit selector replaces the built-in rules.
	opts.ControllerSelector = "team=platform"
	expect(t, run(t, opts), "controller", preflight.OK, "deployment "+e.Namespace+"/kanister: 2/2 replicas ready (recognised by selector team=platform)", "")
	opts.ControllerSelector = "team=nobody"
	expect(t, run(t, opts), "controller", preflight.Broken, "(selector team=nobody)", "--controller-selector")
}

// assertNothingLeft checks that no scratch object survived, in the
// Profile's bucket or in the store.
func assertNothingLeft(t *testing.T, c *minio.Client, bucket, storeURL string, getenv func(string) string) {
	t.Helper()
	ctx := context.Background()
	for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		t.Errorf("object left in the Profile's bucket: %s", obj.Key)
	}
	st, err := storeurl.Open(ctx, storeURL, storeurl.Options{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	err = st.List(ctx, "", func(info store.Info) error {
		if strings.Contains(info.Key, "preflight") {
			t.Errorf("scratch object left in the store: %s", info.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
