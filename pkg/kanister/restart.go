package kanister

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ErrControllerRestarted: the Kanister controller restarted while the
// ActionSet was running (*RestartError).
var ErrControllerRestarted = errors.New("the Kanister controller restarted during the ActionSet")

// RestartError says that the controller process that was running an
// ActionSet is gone. Kanister keeps an ActionSet's work in memory and, after
// a restart, starts only pending ActionSets (pkg/controller/controller.go,
// handleActionSet), so this one will stay running with nothing working on
// it (kanister#3725).
type RestartError struct {
	Namespace, Name string
	// RunningSince is the earliest evidence of the ActionSet running.
	RunningSince time.Time
	// Evidence says what shows the restart (which pod started when, or that
	// no controller pod runs).
	Evidence string
}

func (e *RestartError) Error() string {
	return fmt.Sprintf("ActionSet %s/%s was running (since %s) when the Kanister controller restarted: %s. "+
		"Kanister never resumes an ActionSet that was running when its controller stopped (kanister#3725), so nothing is "+
		"working on it any more and it would stay running for ever; delete it (kubectl -n %s delete actionset %s) and rerun the step",
		e.Namespace, e.Name, e.RunningSince.UTC().Format(time.RFC3339), e.Evidence, e.Namespace, e.Name)
}

// Unwrap makes errors.Is(err, ErrControllerRestarted) true.
func (e *RestartError) Unwrap() error { return ErrControllerRestarted }

// restartWatch is the waiter's state for restart detection.
type restartWatch struct {
	disabled   bool // the controller's pods cannot be read; said once
	eventsRead bool // the "Started Action" Event was looked for
}

// checkRestart looks at the controller's pods: if none of the pods that
// runs now was already running when the ActionSet started running, the
// process that ran it is gone. A pod that is still terminating still
// counts as running, so a controller on its way down is given the chance
// to finish. Where the pods cannot be read, it says so once and turns
// itself off; the overall timeout is then the only bound.
func (w *waiter) checkRestart(ctx context.Context) error {
	if w.restart.disabled {
		return nil
	}
	if !w.restart.eventsRead {
		w.restart.eventsRead = true
		if t, ok := w.startedActionEvent(ctx); ok && t.Before(w.runningAt) {
			w.runningAt = t
		}
	}
	pods, why := w.controllerPods(ctx)
	if why != "" {
		w.restart.disabled = true
		bound := "no --timeout is set, so a restart would leave this step waiting until it is cancelled"
		if w.t.Overall > 0 {
			bound = fmt.Sprintf("the wait is bounded only by --timeout (%s)", w.t.Overall)
		}
		w.c.log().Warn("cannot read the Kanister controller's pods, so a controller restart during the ActionSet cannot be detected; "+bound,
			"actionset", w.ns+"/"+w.name, "reason", why)
		return nil
	}
	// Pod and Event times have whole seconds only: compare at that grain.
	limit := w.runningAt.Truncate(time.Second).Add(w.t.ClockSkew)
	var newer []string
	for _, p := range pods {
		start := ProcessStart(p)
		if p.Status.Phase != corev1.PodRunning || start.IsZero() {
			continue
		}
		if !start.After(limit) {
			return nil // the process that started the ActionSet still runs
		}
		newer = append(newer, fmt.Sprintf("pod %s started at %s", p.Name, start.UTC().Format(time.RFC3339)))
	}
	evidence := "no controller pod is running"
	if len(newer) > 0 {
		evidence = "the controller's " + strings.Join(newer, ", ") + ", after the ActionSet started running"
	}
	return &RestartError{Namespace: w.ns, Name: w.name, RunningSince: w.runningAt, Evidence: evidence}
}

// controllerPods lists the pods of the controller's Deployment(s); why
// says why they cannot be read.
func (w *waiter) controllerPods(ctx context.Context) (pods []corev1.Pod, why string) {
	if w.c.Kube == nil {
		return nil, "no Kubernetes client"
	}
	ctrl, err := FindControllers(ctx, w.c.Kube, w.ns, w.c.ControllerSelector)
	if err != nil {
		return nil, podsError("list deployments", w.ns, err)
	}
	if len(ctrl) == 0 {
		return nil, fmt.Sprintf("no Deployment in namespace %s looks like Kanister's controller (set --controller-selector)", w.ns)
	}
	for _, d := range ctrl {
		p, err := d.Pods(ctx, w.c.Kube)
		if err != nil {
			return nil, podsError("list pods", w.ns, err)
		}
		pods = append(pods, p...)
	}
	return pods, ""
}

func podsError(what, ns string, err error) string {
	if apierrors.IsForbidden(err) {
		return fmt.Sprintf("not allowed to %s in namespace %s (grant list on deployments and pods there)", what, ns)
	}
	return fmt.Sprintf("%s in namespace %s: %v", what, ns, err)
}

// startedActionEvent finds when the controller started this ActionSet's
// first action: it records "Started Action" right after setting the state
// to running (pkg/controller/controller.go, runAction). Best effort: an
// ActionSet adopted while already running needs it, since this waiter saw
// the state change only late.
func (w *waiter) startedActionEvent(ctx context.Context) (time.Time, bool) {
	if w.c.Kube == nil {
		return time.Time{}, false
	}
	list, err := w.c.Kube.CoreV1().Events(w.ns).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=ActionSet,involvedObject.name=" + w.name + ",reason=Started Action",
	})
	if err != nil {
		return time.Time{}, false
	}
	var first time.Time
	for _, ev := range list.Items {
		if ev.InvolvedObject.UID != w.obj.GetUID() {
			continue
		}
		if t := firstTime(ev); !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first, !first.IsZero()
}

// firstTime is when an Event first happened (repeats only move lastTimestamp).
func firstTime(ev corev1.Event) time.Time {
	switch {
	case !ev.FirstTimestamp.IsZero():
		return ev.FirstTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}
