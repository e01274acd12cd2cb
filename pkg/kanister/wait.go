package kanister

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

var errOverall = errors.New("overall timeout")

// waiter follows one ActionSet through its watch events.
type waiter struct {
	c          *Client
	t          Timeouts
	ns, name   string
	onProgress func(Progress)

	obj       *unstructured.Unstructured
	status    Status
	started   time.Time // when waiting began: the no-status clock
	pendingAt time.Time // first seen pending
	runningAt time.Time // first seen running (or the controller's "Started Action" Event, if earlier)
	nextCheck time.Time // next look at the controller's pods
	restart   restartWatch
	last      Progress

	// After complete or failed (see settle.go).
	settleBy          time.Time // the wait for every action to stop ends here
	settleNoted       bool
	launchFailure     string // the Event of an action that failed to launch, when seen while running
	launchFailedEvent bool
	launched          int // actions launched before the launch failure
}

func (w *waiter) now() time.Time { return time.Now() }

func (c *Client) wait(ctx context.Context, obj *unstructured.Unstructured, onProgress func(Progress)) (*Result, error) {
	w := &waiter{c: c, t: c.Timeouts.withDefaults(), ns: obj.GetNamespace(), name: obj.GetName(),
		onProgress: onProgress, started: time.Now()}
	if w.t.Overall > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, w.t.Overall, errOverall)
		defer cancel()
	}
	w.observe(obj)
	timer := time.NewTimer(time.Until(w.deadline()))
	defer timer.Stop()
	backoff := 50 * time.Millisecond
	for {
		if done, res, err := w.terminal(ctx); done {
			return res, err
		}
		wi, err := c.Dynamic.Resource(ActionSetGVR).Namespace(w.ns).Watch(ctx, metav1.ListOptions{
			FieldSelector:       "metadata.name=" + w.name,
			ResourceVersion:     w.obj.GetResourceVersion(),
			AllowWatchBookmarks: true,
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, w.stopped(ctx)
			}
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				if err := w.refresh(ctx); err != nil {
					return nil, err
				}
				continue
			}
			if cerr := classify(err, "watch", "actionsets."+Group, w.ns, w.name); exitcode.Of(cerr) == exitcode.Permission {
				return nil, cerr
			}
			c.log().Warn("watch on ActionSet failed; retrying", "actionset", w.ns+"/"+w.name, "err", err)
			select {
			case <-ctx.Done():
				return nil, w.stopped(ctx)
			case <-timer.C:
				if err := w.onTimer(ctx, timer); err != nil {
					return nil, err
				}
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		events, err := w.consume(ctx, wi, timer)
		wi.Stop()
		if err != nil {
			return nil, err
		}
		if events > 0 {
			backoff = 50 * time.Millisecond
			continue
		}
		// A watch that ends without delivering anything points at trouble
		// between here and the API server: do not spin.
		select {
		case <-ctx.Done():
			return nil, w.stopped(ctx)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// consume reads events until the watch closes (nil: re-establish it), the
// ActionSet is terminal (nil; the caller sees it), or an error ends the wait.
// It returns how many events and timer checks it handled.
func (w *waiter) consume(ctx context.Context, wi watch.Interface, timer *time.Timer) (events int, err error) {
	for ; ; events++ {
		select {
		case <-ctx.Done():
			return events, w.stopped(ctx)
		case <-timer.C:
			if err := w.onTimer(ctx, timer); err != nil {
				return events, err
			}
			if w.finished() {
				return events + 1, nil
			}
		case ev, ok := <-wi.ResultChan():
			if !ok {
				w.c.log().Debug("ActionSet watch closed; re-establishing", "actionset", w.ns+"/"+w.name)
				return events, nil
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				if u, ok := ev.Object.(*unstructured.Unstructured); ok {
					w.observe(u)
					resetTimer(timer, w.deadline())
					if w.finished() {
						return events + 1, nil
					}
				}
			case watch.Bookmark:
				if u, ok := ev.Object.(*unstructured.Unstructured); ok {
					w.obj.SetResourceVersion(u.GetResourceVersion())
				}
			case watch.Deleted:
				return events, exitcode.With(exitcode.Kanister, fmt.Errorf(
					"ActionSet %s/%s was deleted while waiting for it (state %s): someone cancelled it", w.ns, w.name, w.stateText()))
			case watch.Error:
				err := apierrors.FromObject(ev.Object)
				if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
					return events + 1, w.refresh(ctx)
				}
				w.c.log().Debug("ActionSet watch error; re-establishing", "actionset", w.ns+"/"+w.name, "err", err)
				return events, nil
			}
		}
	}
}

// refresh re-reads the ActionSet, e.g. after 410 Gone.
func (w *waiter) refresh(ctx context.Context) error {
	u, err := w.c.Dynamic.Resource(ActionSetGVR).Namespace(w.ns).Get(ctx, w.name, metav1.GetOptions{})
	if err != nil {
		if ctx.Err() != nil {
			return w.stopped(ctx)
		}
		if apierrors.IsNotFound(err) {
			return exitcode.With(exitcode.Kanister, fmt.Errorf(
				"ActionSet %s/%s was deleted while waiting for it: someone cancelled it", w.ns, w.name))
		}
		return classify(err, "get", "actionsets."+Group, w.ns, w.name)
	}
	w.observe(u)
	return nil
}

// onTimer re-reads the ActionSet before declaring a timeout, so that a
// change the watch has not delivered yet is not mistaken for silence; while
// it runs, it looks for a controller restart instead.
func (w *waiter) onTimer(ctx context.Context, timer *time.Timer) error {
	if err := w.refresh(ctx); err != nil {
		return err
	}
	if !time.Now().Before(w.nextCheck) {
		switch {
		case w.status.State == StateRunning && w.launchFailure == "":
			if err := w.checkRestart(ctx); err != nil {
				return exitcode.With(exitcode.Kanister, err)
			}
			w.checkLaunchFailure(ctx)
			w.observe(w.obj) // start the settle clock if an action failed to launch
		case w.ended() && !w.launchFailedEvent:
			w.checkLaunchFailure(ctx) // actions that never launched need not be waited for
		}
		w.nextCheck = time.Now().Add(w.t.RestartCheck)
	}
	if w.ended() || time.Until(w.deadline()) > 0 {
		resetTimer(timer, w.deadline())
		return nil
	}
	return exitcode.With(exitcode.Kanister, w.timeoutError())
}

func resetTimer(t *time.Timer, at time.Time) {
	t.Stop()
	t.Reset(max(time.Until(at), 0))
}

func (w *waiter) timeoutError() *TimeoutError {
	e := &TimeoutError{Namespace: w.ns, Name: w.name, State: w.status.State}
	switch w.status.State {
	case "":
		e.Which, e.After = "no-status", w.t.NoStatus
		e.Hint = fmt.Sprintf("Kanister wrote no status: is the Kanister controller running in namespace %s? "+
			"the ActionSet may be invalid (Kanister writes no status for an invalid spec; check the controller log)", w.ns)
	case StatePending:
		e.Which, e.After = "pending", w.t.Pending
		e.Hint = fmt.Sprintf("the ActionSet never started running: the Kanister controller in namespace %s may be overloaded, "+
			"wedged by a conflicting update, or restarting; check its log", w.ns)
	}
	return e
}

// stopped is the error for a cancelled wait: the ActionSet is left running.
func (w *waiter) stopped(ctx context.Context) error {
	if errors.Is(context.Cause(ctx), errOverall) {
		return exitcode.With(exitcode.Kanister, &TimeoutError{Namespace: w.ns, Name: w.name, Which: "overall",
			After: w.t.Overall, State: w.status.State,
			Hint: "Kanister may still be working on it, so it is left running and its result is not recorded; " +
				"raise --timeout if this action needs longer"})
	}
	return fmt.Errorf("stopped waiting for ActionSet %s/%s (state %s): %w; the ActionSet is left to Kanister: delete it to cancel (kubectl -n %s delete actionset %s)",
		w.ns, w.name, w.stateText(), ctx.Err(), w.ns, w.name)
}

func (w *waiter) stateText() string {
	if w.status.State == "" {
		return "no status yet"
	}
	return w.status.State
}

// deadline is when the timeout for the current state expires or, while
// the ActionSet runs, when the controller is looked at next.
func (w *waiter) deadline() time.Time {
	switch w.status.State {
	case "":
		return w.started.Add(w.t.NoStatus)
	case StatePending:
		return w.pendingAt.Add(w.t.Pending)
	}
	if w.ended() {
		if w.settleBy.Before(w.nextCheck) {
			return w.settleBy
		}
		return w.nextCheck
	}
	if w.status.State == StateRunning && !w.restart.disabled {
		return w.nextCheck
	}
	return time.Now().Add(24 * time.Hour) // the watch, or the overall timeout, ends the wait
}

// terminal returns the outcome once the wait is finished (see settle.go).
func (w *waiter) terminal(ctx context.Context) (bool, *Result, error) {
	if !w.finished() {
		return false, nil, nil
	}
	note := w.settleNote()
	if w.status.State == StateComplete && w.launchFailure == "" {
		if note != "" {
			return true, nil, exitcode.With(exitcode.Kanister, fmt.Errorf(
				"ActionSet %s/%s is complete, but %s: Kanister marks an ActionSet complete once every phase is, "+
					"and this action's output artifacts were never rendered, so nothing is recorded from it (see kubectl -n %s describe actionset %s)",
				w.ns, w.name, note, w.ns, w.name))
		}
		res, err := newResult(w.obj, w.status)
		return true, res, err
	}
	e := w.c.failure(ctx, w.obj, w.status)
	if e.Message == "" {
		e.Message = Readable(w.launchFailure)
	}
	if note != "" {
		e.Message += " (" + note + ")"
	}
	return true, nil, exitcode.With(exitcode.Kanister, e)
}

// stateOf reads status.state of an unstructured ActionSet.
func stateOf(u *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedString(u.Object, "status", "state")
	return s
}
