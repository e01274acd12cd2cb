package kanister

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

// Sentinels to branch on with errors.Is.
var (
	// ErrActionSetFailed: the ActionSet reached state failed (*ActionSetError).
	ErrActionSetFailed = errors.New("ActionSet failed")
	// ErrTimeout: one of Run's own timeouts expired (*TimeoutError).
	ErrTimeout = errors.New("timed out waiting for Kanister")
)

// ActionSetError describes a failed ActionSet: the failed action and phase
// (empty when it failed before any phase ran, e.g. an unknown Blueprint),
// Kanister's status.error.message and the ActionSet's recent Warning Events.
type ActionSetError struct {
	Namespace, Name string
	Action, Phase   string
	Message         string
	Events          []string
}

func (e *ActionSetError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ActionSet %s/%s failed", e.Namespace, e.Name)
	if e.Action != "" {
		fmt.Fprintf(&b, " in action %s", e.Action)
	}
	if e.Phase != "" {
		fmt.Fprintf(&b, " phase %s", e.Phase)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if len(e.Events) > 0 {
		fmt.Fprintf(&b, "; warning events: %s", strings.Join(e.Events, " | "))
	}
	fmt.Fprintf(&b, " (see kubectl -n %s describe actionset %s)", e.Namespace, e.Name)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrActionSetFailed) true.
func (e *ActionSetError) Unwrap() error { return ErrActionSetFailed }

// TimeoutError is one of Run's own timeouts.
type TimeoutError struct {
	Namespace, Name string
	// Which is "no-status", "pending" or "overall".
	Which string
	After time.Duration
	State string
	Hint  string
}

func (e *TimeoutError) Error() string {
	state := e.State
	if state == "" {
		state = "no status"
	}
	return fmt.Sprintf("ActionSet %s/%s: %s timeout after %s (state: %s): %s",
		e.Namespace, e.Name, e.Which, e.After, state, e.Hint)
}

// Unwrap makes errors.Is(err, ErrTimeout) true.
func (e *TimeoutError) Unwrap() error { return ErrTimeout }

// classify wraps an API error with what was being done and its exit code.
func classify(err error, verb, resource, namespace, name string) error {
	what := resource
	if name != "" {
		what = resource + " " + name
	}
	wrapped := fmt.Errorf("%s %s in namespace %s: %w", verb, what, namespace, err)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return wrapped
	case apierrors.IsForbidden(err):
		grant := fmt.Sprintf("%q on %s", verb, resource)
		if resource == "actionsets."+Group {
			// Everything Run does, so that fixing one denial does not lead
			// straight to the next.
			grant = "get, create and watch on actionsets." + Group + " and list on events"
		}
		return exitcode.With(exitcode.Permission, fmt.Errorf(
			"no permission to %s %s in namespace %s: grant the step's ServiceAccount a Role there with %s: %w",
			verb, resource, namespace, grant, err))
	case apierrors.IsUnauthorized(err):
		return exitcode.With(exitcode.Permission, fmt.Errorf("%s %s in namespace %s: the API server does not accept the credentials: %w", verb, resource, namespace, err))
	case apierrors.IsNotFound(err) && notFoundKind(err) == "namespaces":
		return exitcode.With(exitcode.Precondition, fmt.Errorf(
			"namespace %s does not exist: is Kanister installed there? (set the Kanister namespace): %w", namespace, err))
	case apierrors.IsNotFound(err) && verb != "get":
		// On create, list or watch a 404 means the resource type is missing.
		return exitcode.With(exitcode.Precondition, fmt.Errorf(
			"%s %s in namespace %s: not found; are the Kanister CRDs installed?: %w", verb, resource, namespace, err))
	case apierrors.IsNotFound(err):
		return exitcode.With(exitcode.Precondition, wrapped)
	case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
		return exitcode.With(exitcode.Conflict, wrapped)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return exitcode.With(exitcode.Usage, wrapped)
	case isTransient(err):
		return exitcode.With(exitcode.Transient, wrapped)
	}
	return wrapped
}

func notFoundKind(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) && se.Status().Details != nil {
		return se.Status().Details.Kind
	}
	return ""
}

// isTransient reports API trouble worth a retry: unreachable, throttled,
// timeouts and 5xx.
func isTransient(err error) bool {
	if apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsUnexpectedServerError(err) {
		return true
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) && se.Status().Code >= 500 {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "EOF") || strings.Contains(msg, "no such host")
}
