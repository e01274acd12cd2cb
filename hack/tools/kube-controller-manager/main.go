// Command kube-controller-manager builds the upstream controllers (service
// accounts, tokens, garbage collection, volumes) from the Go module proxy for
// hack/cluster.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
