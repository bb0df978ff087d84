// Command k3d-runtime-containerd is k3d's containerd backend: k3d starts it
// and speaks the Runtime protocol to it. containerd's shims also run it, as
// the log driver of each node's task.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/containerd"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == containerd.LogDriverArg {
		containerd.RunLogDriver(os.Args[2])
		return
	}
	var opts containerd.Options
	flag.StringVar(&opts.Address, "address", "", "containerd socket (default: $"+containerd.EnvAddress+", else "+containerd.DefaultAddress+")")
	flag.StringVar(&opts.Namespace, "namespace", "", "containerd namespace for k3d's nodes and images (default: $"+containerd.EnvNamespace+", else "+containerd.DefaultNamespace+")")
	flag.StringVar(&opts.Root, "root", "", "data root for networks, volumes and node files (default: $"+containerd.EnvRoot+", else "+containerd.DefaultRoot+")")
	flag.StringVar(&opts.CNIPath, "cni-path", "", "directories of the CNI plugins (default: $"+containerd.EnvCNIPath+", else "+containerd.DefaultCNIPath+")")
	flag.Parse()
	// Stderr goes to k3d's debug log.
	opts.Report = os.Stderr
	rt, err := containerd.New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "k3d-runtime-containerd:", err)
		os.Exit(1)
	}
	backends.Serve(rt)
}
