package testsupport

// The KanisterStandIn's controller Deployment and pod (TEST-ONLY). envtest
// runs no kubelet, so the stand-in writes the pod's status itself: a pod
// per controller process, Running since the process started, as the chart
// would have it (helm/kanister-operator/templates/deployment.yaml: labels
// app=kanister-operator, the release's ServiceAccount).

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
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
	if s.node != nil {
		return s.startNodePod(ctx)
	}
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
	if s.node != nil {
		return // the Deployment's pod stays, for the next process
	}
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
	if s.node != nil {
		return fmt.Errorf("a stand-in on a real node cannot fake a container restart; restart the Deployment's pod instead")
	}
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

// StartKanisterStandInOnNode starts the stand-in on a cluster with a real
// node (the e2e tests), where the kubelet, not the stand-in, writes pod
// status: the controller's Deployment runs controller (an image on the node
// that only waits) in a real pod, and the stand-in starts once that pod
// runs, so the steps' restart detection sees a running controller whose
// process started before any ActionSet, as with Kanister. It stops when the
// test ends; the Deployment and its pod stay for the next stand-in.
func StartKanisterStandInOnNode(t testing.TB, k *KubeEnv, namespace string, controller corev1.Container) *KanisterStandIn {
	t.Helper()
	controller.Name = StandInController
	s := &KanisterStandIn{k: k, ns: namespace, t: t, seen: map[types.UID]string{}, node: &controller}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// startNodePod creates the controller's Deployment (once) and waits for a
// running pod of it.
func (s *KanisterStandIn) startNodePod(ctx context.Context) error {
	cs := s.k.Clientset
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: StandInController, Namespace: s.ns}}
	if _, err := cs.CoreV1().ServiceAccounts(s.ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ServiceAccount: %w", err)
	}
	no, one, zero := false, int32(1), int64(0)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: StandInController, Namespace: s.ns, Labels: map[string]string{"app": "kanister-operator"}},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: standInPodLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: standInPodLabels}, Spec: corev1.PodSpec{
				ServiceAccountName: StandInController, AutomountServiceAccountToken: &no, TerminationGracePeriodSeconds: &zero,
				Containers: []corev1.Container{*s.node}}}},
	}
	if _, err := cs.AppsV1().Deployments(s.ns).Create(ctx, d, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create Deployment: %w", err)
	}
	var name string
	last, ok := Poll(ctx, 3*time.Minute, func(ctx context.Context) (bool, string) {
		list, err := cs.CoreV1().Pods(s.ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(standInPodLabels).String()})
		if err != nil {
			return false, err.Error()
		}
		var states []string
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				name = p.Name
				return true, ""
			}
			states = append(states, p.Name+" "+string(p.Status.Phase))
		}
		return false, fmt.Sprintf("controller pods: %v", states)
	})
	if !ok {
		return fmt.Errorf("no running controller pod: %s", last)
	}
	s.mu.Lock()
	s.pod = name
	s.mu.Unlock()
	return nil
}
