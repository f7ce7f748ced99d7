// Command kubelet is the node agent of k8s.io/kubernetes at the version pinned in ../../go.mod, built
// for Herald's real-node tests (lab/src/node), where it runs pods through containerd. Upstream flags
// and configuration file unchanged.
package main

import (
	"context"
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	os.Exit(cli.Run(app.NewKubeletCommand(context.Background())))
}
