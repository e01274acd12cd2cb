// Command kube-apiserver builds the upstream API server from the Go module
// proxy so that integration tests run against a real one without Docker or
// prebuilt downloads.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
