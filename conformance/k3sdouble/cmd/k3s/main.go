// Command k3s is the k3s test double, installed in the test node image as
// /bin/k3s and, like real k3s, also as ctr, kubectl and crictl. It is a test
// fixture: the real node image is rancher/k3s.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/k3d/k3d/conformance/k3sdouble/k3s"
)

func main() {
	// SIGTERM is how a container runtime stops a node: k3s exits 0 on it.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := k3s.Main(ctx, k3s.OSEnv())
	stop()
	os.Exit(code)
}
