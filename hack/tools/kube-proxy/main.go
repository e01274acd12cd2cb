// Command kube-proxy builds the upstream service proxy from the Go module
// proxy for hack/cluster, so that pods reach the API server through the
// kubernetes Service as in any cluster.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-proxy/app"
)

func main() {
	os.Exit(cli.Run(app.NewProxyCommand()))
}
