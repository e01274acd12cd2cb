// Package argo pins the Argo Workflows release whose workflow-controller and
// argoexec the local cluster's end-to-end tests run (hack/cluster-bins.sh
// builds them with `go build` of the tool packages named in go.mod).
package argo
