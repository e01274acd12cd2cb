// Package exitcode is the single place where mlstate's errors become process
// exit codes. Codes are an API: templates retry on them
// (retryStrategy.expression on lastRetry.exitCode), so a code is never reused
// for another meaning.
//
//	0    ok
//	1    unexpected failure (a bug, or an error nobody classified)
//	2    reserved: Go runtime panics exit 2
//	3    usage: invalid flags, arguments or input files
//	10   precondition not met: nothing to restore, restore point or tree not found
//	11   conflict: a restore point of another pipeline, an object that already exists
//	12   integrity: a chunk or record does not match its digest, or is missing from a tree
//	13   kanister: an ActionSet failed, or Kanister did not answer in time
//	15   warnings: preflight --fail-on-warning found warnings and nothing broken
//	20   transient: store or API server unreachable, throttled, 5xx; worth a retry
//	21   permission denied: credentials or RBAC; not worth a retry
//	130  cancelled: SIGINT/SIGTERM
//
// guard adds its own codes (see pkg/guard): it passes on the wrapped command's
// code and uses 70 when the restore after a failure itself failed.
package exitcode

import (
	"context"
	"errors"
)

// Exit codes. See the package comment for the table.
const (
	OK                  = 0
	Failure             = 1
	Usage               = 3
	Precondition        = 10
	Conflict            = 11
	Integrity           = 12
	Kanister            = 13
	Transient           = 20
	Permission          = 21
	RestoreAfterFailure = 70
	Cancelled           = 130
)

// Warnings is preflight's code for "nothing broken, but warnings" when asked
// to fail on them (--fail-on-warning); a broken check exits Precondition.
const Warnings = 15

// Error attaches an exit code to an error. The message is the wrapped error's;
// Error only classifies it.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// With classifies err with code. A nil err stays nil, so it can wrap any return.
func With(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Of returns the exit code for err: the outermost classification wins, a
// cancelled context maps to Cancelled, anything unclassified to Failure.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.Canceled) {
		return Cancelled
	}
	return Failure
}

// Retryable reports whether a failure with this code is worth retrying.
func Retryable(code int) bool { return code == Transient }
