// Command etcd is the etcd server of go.etcd.io/etcd/server/v3 at the version pinned in ../../go.mod,
// the one k8s.io/kubernetes itself requires. It takes etcd's upstream flags unchanged.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
