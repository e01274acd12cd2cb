//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/common"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

var cronWorkflowsGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "cronworkflows"}

// TestRetentionCronWorkflowRunOnce applies retention-cronworkflow.yaml as
// it is and runs it once the way `argo submit --from cronwf/...` does
// (Argo's own conversion of a CronWorkflow into a Workflow): catalog-prune
// then catalog-verify against the store, as mlstate-executor.
func TestRetentionCronWorkflowRunOnce(t *testing.T) {
	e := needMLState(t)
	b, err := os.ReadFile(filepath.Join("..", "examples", "argo", "retention-cronworkflow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cron := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &cron.Object); err != nil {
		t.Fatal(err)
	}
	got, err := e.dyn.Resource(cronWorkflowsGVR).Namespace(cron.GetNamespace()).Create(t.Context(), cron, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create the CronWorkflow: %v", err)
	}
	var typed wfv1.CronWorkflow
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(got.Object, &typed); err != nil {
		t.Fatal(err)
	}
	wf := common.ConvertCronWorkflowToWorkflow(&typed)
	m, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(wf)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	created, err := e.dyn.Resource(workflowsGVR).Namespace(got.GetNamespace()).Create(t.Context(), &unstructured.Unstructured{Object: m}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("submit --from cronwf/%s: %v", got.GetName(), err)
	}
	final := waitWorkflow(t, e.dyn, created.GetNamespace(), created.GetName(), workflowTimeout)
	phase, _, _ := unstructured.NestedString(final.Object, "status", "phase")
	t.Logf("workflow %s: %s in %s", created.GetName(), phase, time.Since(start).Round(time.Millisecond))
	if phase != "Succeeded" {
		t.Fatalf("the retention run ended %q: %s", phase, workflowLogs(t.Context(), e, final))
	}
	for _, step := range []string{"prune", "verify"} {
		if p := nodePhase(final, step); p != "Succeeded" {
			t.Errorf("step %s ended %q: %s", step, p, workflowReport(final))
		}
	}
}
