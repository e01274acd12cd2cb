// Package workflowtemplates holds mlstate's Argo WorkflowTemplates, RBAC and
// Kanister Blueprints as YAML (installed with `kubectl apply -k`). The Go
// package itself only carries the tests that prove every manifest in the
// repository valid: Argo's own validator, server-side apply to a real API
// server, the Blueprint checks of pkg/blueprint, and the flags and images
// each template passes to the steps.
package workflowtemplates
