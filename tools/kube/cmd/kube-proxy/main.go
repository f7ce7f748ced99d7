// Command kube-proxy implements Services (ClusterIPs) of k8s.io/kubernetes at the version pinned in
// ../../go.mod, built for Herald's real-node tests (lab/src/node), where it writes iptables rules in
// the node's own network namespace. Upstream flags and configuration file unchanged.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-proxy/app"
)

func main() {
	os.Exit(cli.Run(app.NewProxyCommand()))
}
