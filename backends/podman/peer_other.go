//go:build !linux

package podman

import "net"

// peerProcess identifies the process listening on a unix socket; only Linux
// can tell, so elsewhere the service's info is never cached.
type peerProcess struct {
	pid   int
	start string
}

func peerOf(net.Conn) peerProcess { return peerProcess{} }
