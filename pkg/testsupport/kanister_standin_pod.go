package testsupport

// The KanisterStandIn's controller Deployment and pod (TEST-ONLY). envtest
// runs no kubelet, so the stand-in writes the pod's status itself: a pod
// per controller process, Running since the process started, as the chart
// would have it (helm/kanister-operator/templates/deployment.yaml: labels
// app=kanister-operator, the release's ServiceAccount).

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StandInController names the stand-in's Deployment and ServiceAccount, as
// the chart names them for release "kanister".
const StandInController = "kanister-kanister-operator"

var standInPodLabels = map[string]string{"app": "kanister-operator", "mlstate-test/standin": "controller"}

// ControllerPod is the name of the pod of the current controller process
// ("" while stopped).
func (s *KanisterStandIn) ControllerPod() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pod
}

// startPod creates the Deployment (once) and a new Running pod for this
// controller process.
func (s *KanisterStandIn) startPod(ctx context.Context) error {
	cs := s.k.Clientset
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: StandInController, Namespace: s.ns}}
	if _, err := cs.CoreV1().ServiceAccounts(s.ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ServiceAccount: %w", err)
	}
	no := false
	podSpec := corev1.PodSpec{ServiceAccountName: StandInController, AutomountServiceAccountToken: &no,
		Containers: []corev1.Container{{Name: "kanister-kanister-operator", Image: "ghcr.io/kanisterio/controller:0.119.0"}}}
	one := int32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: StandInController, Namespace: s.ns, Labels: map[string]string{"app": "kanister-operator"}},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: standInPodLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: standInPodLabels}, Spec: podSpec}},
	}
	if _, err := cs.AppsV1().Deployments(s.ns).Create(ctx, d, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create Deployment: %w", err)
	}
	s.mu.Lock()
	s.pods++
	name := fmt.Sprintf("%s-%d", StandInController, s.pods)
	s.mu.Unlock()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns, Labels: standInPodLabels}, Spec: podSpec}
	got, err := cs.CoreV1().Pods(s.ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create pod: %w", err)
	}
	now := metav1.Now()
	got.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &now,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "kanister-kanister-operator", Ready: true, Image: podSpec.Containers[0].Image,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}}
	if _, err := cs.CoreV1().Pods(s.ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set pod status: %w", err)
	}
	s.mu.Lock()
	s.pod = name
	s.mu.Unlock()
	return nil
}

// stopPod deletes the current process's pod: the process is gone.
func (s *KanisterStandIn) stopPod(ctx context.Context) {
	s.mu.Lock()
	name := s.pod
	s.pod = ""
	s.mu.Unlock()
	if name == "" {
		return
	}
	zero := int64(0)
	err := s.k.Clientset.CoreV1().Pods(s.ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil && !apierrors.IsNotFound(err) {
		s.t.Logf("kanister stand-in: delete controller pod %s: %v", name, err)
	}
}

// restartContainer moves the controller container's start time to now, as
// the kubelet reports a restarted container.
func (s *KanisterStandIn) restartContainer(ctx context.Context) error {
	name := s.ControllerPod()
	pods := s.k.Clientset.CoreV1().Pods(s.ns)
	p, err := pods.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	for i := range p.Status.ContainerStatuses {
		c := &p.Status.ContainerStatuses[i]
		c.RestartCount++
		c.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled", FinishedAt: now}}
		c.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
	}
	_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}
