// Command argo-retry does what `argo retry -n NAMESPACE NAME` does: it
// resets a failed Workflow's failed nodes with Argo's own
// FormulateRetryWorkflow, deletes their pods and updates the Workflow, the
// steps of the Argo server's RetryWorkflow. The e2e tests use it because
// they run no Argo server and the argo CLI does not build from the module
// (its UI assets are not in it); hack/cluster-bins.sh builds it next to
// workflow-controller, whose packages it shares.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	"github.com/argoproj/argo-workflows/v3/workflow/util"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	namespace := flag.String("n", "default", "the Workflow's namespace")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: argo-retry [-kubeconfig FILE] -n NAMESPACE WORKFLOW")
		os.Exit(3)
	}
	if err := retry(context.Background(), *kubeconfig, *namespace, flag.Arg(0)); err != nil {
		fmt.Fprintf(os.Stderr, "argo-retry: %v\n", err)
		os.Exit(1)
	}
}

func retry(ctx context.Context, kubeconfig, ns, name string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	wfs, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	wf, err := wfs.ArgoprojV1alpha1().Workflows(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get workflow %s/%s: %w", ns, name, err)
	}
	if wf.Status.IsOffloadNodeStatus() || wf.Status.CompressedNodes != "" {
		return fmt.Errorf("workflow %s/%s has offloaded or compressed node status, which needs the Argo server's hydrator", ns, name)
	}
	wf, pods, err := util.FormulateRetryWorkflow(ctx, wf, false, "", nil)
	if err != nil {
		return fmt.Errorf("retry workflow %s/%s: %w", ns, name, err)
	}
	for _, p := range pods {
		if err := kube.CoreV1().Pods(ns).Delete(ctx, p, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete pod %s/%s: %w", ns, p, err)
		}
	}
	if _, err := wfs.ArgoprojV1alpha1().Workflows(ns).Update(ctx, wf, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update workflow %s/%s: %w", ns, name, err)
	}
	return nil
}
