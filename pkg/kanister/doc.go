// Package kanister drives Kanister through its custom resources with
// client-go's dynamic client; the Kanister Go module is not available, so the
// shapes are mlstate's own small structs (see the Kanister contract in
// shared/reference/kanister-contract.md, section 7).
//
// The driver creates one ActionSet per step with every label set at creation
// and never modifies it afterwards (contract §5.2, wedging risk), names it
// deterministically from the Argo workflow UID and node ID so that a retried
// step adopts the ActionSet it created before, and waits by watching until
// the ActionSet is complete or failed. Kanister has no timeouts of its own and
// leaves some ActionSets without status or stuck in running for ever
// (contract §5.1, §5.2), so Run enforces three of its own.
//
// Errors leaving this package are classified with pkg/exitcode: API server
// trouble is Transient, RBAC denials are Permission, a failed or silent
// ActionSet is Kanister, a missing namespace is Precondition and bad input is
// Usage.
package kanister
