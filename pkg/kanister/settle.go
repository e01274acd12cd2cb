package kanister

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Kanister runs the actions of one ActionSet in parallel, and its state says
// less than a client needs (pkg/controller/controller.go):
//
//   - complete is written when every phase of every action is complete
//     (maybeSetActionSetStateComplete), while another action may still run
//     its deferPhase or not yet have rendered its output artifacts, which
//     are then still {{ }} templates;
//   - failed is written the moment a phase fails, before the deferPhase runs,
//     and the other actions keep running (runAction, executeDeferPhase);
//   - a launch failure of a later action (a missing Secret, say) is written
//     with a plain Update that conflicts with the writes of the actions
//     already launched, so the ActionSet may stay running for ever with only
//     a Warning Event "Failed to launch Action" to tell (handleActionSet).
//
// So the wait goes on past complete or failed until every action has
// settled, for at most Timeouts.Settle.

// launchFailedMarker starts the Event message of a launch failure.
const launchFailedMarker = "Failed to launch Action"

// ended reports that Kanister is done with the ActionSet as a whole: it is
// complete or failed, or one of its actions failed to launch.
func (w *waiter) ended() bool {
	return w.status.State == StateComplete || w.status.State == StateFailed || w.launchFailure != ""
}

// finished reports that the wait is over: ended, and every action settled
// or the settle time is up.
func (w *waiter) finished() bool {
	if !w.ended() {
		return false
	}
	_, what := w.unsettled()
	return what == "" || !w.now().Before(w.settleBy)
}

// unsettled names the first action still at work and what it does.
func (w *waiter) unsettled() (action int, what string) {
	for i, a := range w.status.Actions {
		if what := busy(a, w.launchFailedEvent && i >= w.launched); what != "" {
			return i, what
		}
	}
	return -1, ""
}

// busy says what an action is still doing, or "" when it has stopped:
// a phase running, between two phases, its deferPhase pending after the
// phases ended (Kanister leaves the deferPhase's own state pending while
// it runs), or its artifacts not rendered yet. An action whose phases are
// all pending has not started; notLaunched says it never will (it, or an
// action before it, failed to launch).
func busy(a ActionStatus, notLaunched bool) string {
	launchFailed := notLaunched
	failed, allPending, allComplete := false, true, true
	for _, p := range a.Phases {
		switch p.State {
		case StateRunning:
			return "running phase " + p.Name
		case StateFailed:
			failed = true
		}
		allPending = allPending && p.State == StatePending
		allComplete = allComplete && p.State == StateComplete
	}
	switch {
	case allPending && len(a.Phases) > 0:
		if launchFailed {
			return ""
		}
		return "not started"
	case !failed && !allComplete:
		return "between phases"
	case a.DeferPhase.Name != "" && a.DeferPhase.State != StateComplete && a.DeferPhase.State != StateFailed:
		if failed && len(a.Phases) > 0 && a.Phases[0].State == StateFailed && launchFailed {
			return "" // failed at launch: its deferPhase never runs
		}
		return "running deferPhase " + a.DeferPhase.Name
	case !failed && a.DeferPhase.State != StateFailed && unrendered(a.Artifacts) != "":
		return "rendering its output artifacts"
	}
	return ""
}

// unrendered names an artifact that still holds a template, or "".
func unrendered(arts map[string]Artifact) string {
	for name, art := range arts {
		if strings.Contains(art.KopiaSnapshot, "{{") {
			return name
		}
		for k, v := range art.KeyValue {
			if strings.Contains(v, "{{") {
				return name + "." + k
			}
		}
	}
	return ""
}

// noteUnsettled logs, once, why the wait goes on past complete or failed.
func (w *waiter) noteUnsettled() {
	if w.settleNoted || !w.ended() {
		return
	}
	i, what := w.unsettled()
	if what == "" {
		return
	}
	w.settleNoted = true
	state := w.status.State
	if w.launchFailure != "" {
		state = "failed to launch an action"
	}
	w.c.log().Info("the ActionSet has "+state+" but Kanister is still at work on another of its actions; waiting for it to stop",
		"actionset", w.ns+"/"+w.name, "action", i, "doing", what, "atMost", w.t.Settle)
}

// checkLaunchFailure looks for the Warning Event of an action that failed
// to launch; it is the only trace when the failed state was not written.
// Kanister launches actions in order and records "Started Action" for each
// before it resolves its parameters, so the number of those Events (their
// counts, as the event recorder aggregates repeats) tells how many actions
// were launched: all but the last.
func (w *waiter) checkLaunchFailure(ctx context.Context) {
	if w.c.Kube == nil || w.launchFailedEvent {
		return
	}
	list, err := w.c.Kube.CoreV1().Events(w.ns).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=ActionSet,involvedObject.name=" + w.name,
	})
	if err != nil {
		return
	}
	started, failure := 0, ""
	for _, ev := range list.Items {
		if ev.InvolvedObject.UID != w.obj.GetUID() {
			continue
		}
		switch {
		case ev.Reason == "Started Action":
			started += int(max(ev.Count, 1))
		case ev.Type == corev1.EventTypeWarning && strings.HasPrefix(ev.Message, launchFailedMarker):
			failure = ev.Message
		}
	}
	if failure == "" {
		return
	}
	w.launched, w.launchFailure, w.launchFailedEvent = max(started-1, 0), failure, true
	w.c.log().Warn("an action of the ActionSet failed to launch; Kanister may never mark the ActionSet failed, and the actions launched before it run on",
		"actionset", w.ns+"/"+w.name, "launched", w.launched, "event", failure)
}

// settleNote explains, in an error, an action that had not stopped when
// the settle time ran out.
func (w *waiter) settleNote() string {
	i, what := w.unsettled()
	if what == "" {
		return ""
	}
	return fmt.Sprintf("action %d (%s) was still %s after %s; a retry may overlap it",
		i, w.status.Actions[i].Name, what, w.t.Settle)
}
