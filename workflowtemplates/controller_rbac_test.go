package workflowtemplates

import (
	"context"
	"strconv"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlstate/mlstate/pkg/testsupport"
)

// TestRBACLetsKanisterReadItsSecrets asks the API server, for the Kanister
// chart's ServiceAccount, whether rbac.yaml lets the controller read the
// Secrets the Profile and the Blueprints name (param.New reads them with the
// controller's identity, and the chart grants no Secret access), and no
// other Secret.
func TestRBACLetsKanisterReadItsSecrets(t *testing.T) {
	k := testsupport.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	applyFile(ctx, t, k, "rbac.yaml")
	cases := []struct {
		verb, name string
		want       bool
	}{
		{"get", "mlstate-minio-credentials", true},
		{"get", "mlstate-restic-key", true},
		{"get", "some-other-secret", false},
		{"list", "", false},
		{"update", "mlstate-restic-key", false},
	}
	for _, c := range cases {
		// RBAC objects take effect asynchronously: wait for the expected
		// answer rather than reading the first one.
		testsupport.Eventually(t, 0, "kanister-operator may "+c.verb+" secret "+c.name, func(ctx context.Context) (bool, string) {
			res, err := k.Clientset.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
				User:   "system:serviceaccount:kanister:kanister-kanister-operator",
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kanister", "system:authenticated"},
				ResourceAttributes: &authzv1.ResourceAttributes{
					Namespace: "kanister", Verb: c.verb, Resource: "secrets", Name: c.name,
				},
			}}, metav1.CreateOptions{})
			if err != nil {
				return false, err.Error()
			}
			if res.Status.Allowed != c.want {
				return false, "allowed=" + strconv.FormatBool(res.Status.Allowed)
			}
			return true, ""
		})
	}
}
