// Command etcd is the etcd server, built from the published
// go.etcd.io/etcd/server/v3 module. It is what etcd's own repository root
// does in main.go; that root module cannot be built from the module proxy
// because it replaces its sibling modules with local paths.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
