package kanister

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Built-in rules for recognising the Kanister controller's Deployment: the
// labels the Kanister Helm chart sets, or a container image of Kanister's
// controller (for installs without the chart's labels). preflight and the
// restart detection of Run find the controller the same way.
var (
	ControllerLabels = []string{"app.kubernetes.io/name=kanister-operator", "app=kanister-operator"}
	ControllerImages = []string{"kanisterio/controller", "kanister/controller", "kanister-controller"}
)

// IsController says why d counts as the controller, or "". A non-empty
// selector means the Deployment was listed with it and counts as such.
func IsController(d appsv1.Deployment, selector string) string {
	if selector != "" {
		return "selector " + selector
	}
	for _, l := range ControllerLabels {
		k, v, _ := strings.Cut(l, "=")
		if d.Labels[k] == v {
			return "label " + l
		}
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, img := range ControllerImages {
			if strings.Contains(c.Image, img) {
				return "image " + c.Image
			}
		}
	}
	return ""
}

// ControllerDeployment is a Deployment recognised as Kanister's controller,
// with the rule that recognised it.
type ControllerDeployment struct {
	appsv1.Deployment
	How string
}

// FindControllers lists the Deployments in namespace that are Kanister's
// controller (selector "": the built-in rules).
func FindControllers(ctx context.Context, kube kubernetes.Interface, namespace, selector string) ([]ControllerDeployment, error) {
	list, err := kube.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	var out []ControllerDeployment
	for _, d := range list.Items {
		if why := IsController(d, selector); why != "" {
			out = append(out, ControllerDeployment{Deployment: d, How: why})
		}
	}
	return out, nil
}

// ServiceAccount is the ServiceAccount the controller's pods run as: the
// identity with which Kanister reads Profiles, Secrets and targets.
func (d ControllerDeployment) ServiceAccount() string {
	spec := d.Spec.Template.Spec
	switch {
	case spec.ServiceAccountName != "":
		return spec.ServiceAccountName
	case spec.DeprecatedServiceAccount != "":
		return spec.DeprecatedServiceAccount
	}
	return "default"
}

// Pods lists the controller's pods, by the Deployment's selector.
func (d ControllerDeployment) Pods(ctx context.Context, kube kubernetes.Interface) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: selector: %w", d.Namespace, d.Name, err)
	}
	list, err := kube.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// ProcessStart is when the controller process in pod last started: the
// pod's start, or a container's later (re)start. Kanister keeps its work
// in memory, so anything it was running before that is lost. Zero when
// the pod has not started.
func ProcessStart(pod corev1.Pod) time.Time {
	var t time.Time
	if pod.Status.StartTime != nil {
		t = pod.Status.StartTime.Time
	}
	for _, c := range pod.Status.ContainerStatuses {
		if c.State.Running != nil && c.State.Running.StartedAt.After(t) {
			t = c.State.Running.StartedAt.Time
		}
	}
	return t
}
