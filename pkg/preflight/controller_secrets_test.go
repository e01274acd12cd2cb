package preflight_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlstate/mlstate/pkg/preflight"
	"github.com/mlstate/mlstate/pkg/preflight/preflighttest"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// eventuallyLine reruns preflight until the line has status want: a removed
// grant reaches the API server's authorizer asynchronously.
func eventuallyLine(t *testing.T, opts preflight.Options, id string, want preflight.Status) preflight.Checklist {
	t.Helper()
	var list preflight.Checklist
	testsupport.Eventually(t, time.Minute, id+" line "+want.String(), func(ctx context.Context) (bool, string) {
		list = preflight.Run(ctx, opts)
		c, _ := list.Find(id)
		return c.Status == want, c.Status.String() + ": " + c.Detail
	})
	return list
}

func TestControllerSecretAccess(t *testing.T) {
	e, opts := setup(t)
	sa := "system:serviceaccount:" + e.Namespace + ":" + preflighttest.Controller
	list := run(t, opts)
	expect(t, list, "controller-secrets", preflight.OK, sa+" may get Secrets "+e.Namespace+"/"+preflighttest.CredSecret+", "+e.Namespace+"/"+preflighttest.KeySecret, "")

	// Without the Role, as on a chart install since kanister#3134.
	ctx := context.Background()
	if err := e.Kube.Clientset.RbacV1().RoleBindings(e.Namespace).Delete(ctx, preflighttest.ControllerSecretsRole, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	list = eventuallyLine(t, opts, "controller-secrets", preflight.Broken)
	c := expect(t, list, "controller-secrets", preflight.Broken,
		"ServiceAccount "+sa+" (the controller's) may not get Secrets", "bound to ServiceAccount "+e.Namespace+"/"+preflighttest.Controller)
	for _, want := range []string{preflighttest.CredSecret, preflighttest.KeySecret, "fail at launch", `resourceNames: ["` + preflighttest.KeySecret + `"]`, "ServiceAccount " + e.Namespace + "/" + preflighttest.Controller} {
		if !strings.Contains(c.Detail+c.Advice, want) {
			t.Errorf("controller-secrets line lacks %q: %+v", want, c)
		}
	}
}

func TestControllerSecretAccessNotCheckable(t *testing.T) {
	e, opts := setup(t)
	if err := e.Kube.Clientset.RbacV1().ClusterRoleBindings().Delete(context.Background(), e.UserName+"-access-reviews", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	list := eventuallyLine(t, opts, "controller-secrets", preflight.Warning)
	expect(t, list, "controller-secrets", preflight.Warning,
		"not checked: this identity may not create SubjectAccessReviews; ServiceAccount system:serviceaccount:"+e.Namespace+":"+preflighttest.Controller,
		"kubectl auth can-i get secret/")
}
