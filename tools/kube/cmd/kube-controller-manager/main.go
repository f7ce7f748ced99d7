// Command kube-controller-manager runs the Kubernetes controllers of k8s.io/kubernetes at the version
// pinned in ../../go.mod (Herald's lab selects the ones it needs with --controllers).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
