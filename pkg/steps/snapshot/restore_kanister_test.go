package snapshot_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/steps/restore"
	"github.com/mlstate/mlstate/pkg/steps/snapshot"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// TestRestoreUsesTheRecordedKanisterNamespace: the snapshot ran in the
// fixture's namespace, the restore is given none, and must not fall back
// to the flag's default "kanister", where neither Blueprint nor Profile is.
// Then the backed-up PVC is deleted: the restore fails before creating an
// ActionSet, naming it.
func TestRestoreUsesTheRecordedKanisterNamespace(t *testing.T) {
	c := newCluster(t)
	st := minioStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	snap := testsupport.RunStep(ctx, t, snapshot.App(), append([]string{"--store", st, "--pipeline", "ns"}, c.targets()...)...)
	if snap.Code != 0 {
		t.Fatalf("snapshot exit %d: %s", snap.Code, snap.Stderr)
	}
	rp := snap.Output(t, "restore-point")
	kubeconfig := testsupport.Kubeconfig(t, c.f.Kube.Config)
	res := testsupport.RunStep(ctx, t, restore.App(), "--store", st, "--pipeline", "ns", "--restore-point", rp, "--kubeconfig", kubeconfig)
	if res.Code != 0 {
		t.Fatalf("restore without --kanister-namespace: exit %d: %s", res.Code, res.Stderr)
	}
	if got := res.Output(t, "actionsets"); !strings.HasPrefix(got, c.f.Namespace+"/") {
		t.Fatalf("restore ran %q, want it in the recorded namespace %s", got, c.f.Namespace)
	}

	before := len(c.f.ActionSets(t))
	if err := c.f.Kube.Clientset.CoreV1().PersistentVolumeClaims(c.f.Namespace).Delete(ctx, testsupport.FixturePVC, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// envtest runs no PVC-protection controller: drop its finalizer, as it
	// would once no pod uses the claim.
	testsupport.Eventually(t, 0, "the PVC gone", func(ctx context.Context) (bool, string) {
		pvcs := c.f.Kube.Clientset.CoreV1().PersistentVolumeClaims(c.f.Namespace)
		pvc, err := pvcs.Get(ctx, testsupport.FixturePVC, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		pvc.Finalizers = nil
		_, err = pvcs.Update(ctx, pvc, metav1.UpdateOptions{})
		return false, fmt.Sprintf("still there (finalizer removal: %v)", err)
	})
	res = testsupport.RunStep(ctx, t, restore.App(), "--store", st, "--pipeline", "ns", "--restore-point", rp, "--kubeconfig", kubeconfig,
		"--skip-stage")
	if res.Code != int(exitcode.Precondition) || !strings.Contains(res.Stderr, "pvc/"+c.f.Namespace+"/"+testsupport.FixturePVC+", does not exist") ||
		!strings.Contains(res.Stderr, "create it again") {
		t.Fatalf("restore of a deleted PVC: exit %d: %s %s; want %d naming the PVC and what to do", res.Code, res.Stderr, res.Stdout, exitcode.Precondition)
	}
	if after := len(c.f.ActionSets(t)); after != before {
		t.Fatalf("%d ActionSets after the refused restore, want %d: nothing may be started", after, before)
	}
}
