// Package kanister drives Kanister through its custom resources with
// client-go's dynamic client; the Kanister Go module is not available, so the
// shapes are mlstate's own small structs (see the Kanister contract in
// shared/reference/kanister-contract.md, section 7).
//
// The driver creates one ActionSet per step with every label set at creation
// and never modifies it afterwards (contract §5.2, wedging risk), names it
// deterministically from the Argo workflow UID and node ID so that a retried
// step adopts the ActionSet it created before, and waits by watching until
// the ActionSet is complete or failed and every one of its actions has
// stopped (Kanister runs them in parallel; see settle.go). Kanister has no
// timeouts of its own and leaves some ActionSets without status or pending
// (contract §5.1, §5.2), so Run bounds those two states. A running
// ActionSet is not timed, since Kanister's phases are silent while they
// run; Run fails it when the controller's pods show that the controller
// restarted since it started running (restart.go), and --timeout bounds it
// otherwise. KANISTER.md lists what this package relies on in Kanister's
// source and where the reference contract differs.
//
// Errors leaving this package are classified with pkg/exitcode: API server
// trouble is Transient, RBAC denials are Permission, a failed or silent
// ActionSet is Kanister, a missing namespace is Precondition and bad input is
// Usage.
package kanister
