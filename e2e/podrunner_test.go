//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mlstate/mlstate/pkg/testsupport"
)

// nodePods is the Kanister stand-in's PodRunner on the real node: the pod a
// PrepareData or KubeTask phase builds is created as it is, runs on the
// kubelet (the image from the node, the PVC mounted, Secrets resolved by
// the kubelet), and its container's log is read back for the phase
// outputs, as Kanister does. The pod is deleted afterwards, as Kanister
// deletes it.
type nodePods struct {
	cs      kubernetes.Interface
	timeout time.Duration // for one pod, from creation to its end
}

func (r nodePods) RunPod(ctx context.Context, pod *corev1.Pod) (string, error) {
	pods := r.cs.CoreV1().Pods(pod.Namespace)
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create pod: %w", err)
	}
	defer func() {
		zero := int64(0)
		_ = pods.Delete(context.Background(), created.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}()
	var final *corev1.Pod
	last, ok := testsupport.Poll(ctx, r.timeout, func(ctx context.Context) (bool, string) {
		p, err := pods.Get(ctx, created.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		final = p
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed, podReport(ctx, r.cs, p)
	})
	log, logErr := pods.GetLogs(created.Name, &corev1.PodLogOptions{Container: pod.Spec.Containers[0].Name}).DoRaw(ctx)
	if !ok {
		return string(log), fmt.Errorf("pod %s/%s did not end in %s: %s", pod.Namespace, created.Name, r.timeout, last)
	}
	if logErr != nil {
		return "", fmt.Errorf("read the log of pod %s/%s: %w", pod.Namespace, created.Name, logErr)
	}
	if final.Status.Phase != corev1.PodSucceeded {
		return string(log), fmt.Errorf("pod %s/%s failed: %s", pod.Namespace, created.Name, podReport(ctx, r.cs, final))
	}
	return string(log), nil
}
