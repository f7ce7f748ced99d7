// Command kube-apiserver is the Kubernetes API server of k8s.io/kubernetes at the version pinned in
// ../../go.mod, built for Herald's lab and end-to-end tests. It takes the upstream flags unchanged.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
