package containerd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"

	client "github.com/containerd/containerd"
	"golang.org/x/sys/unix"

	"github.com/k3d/k3d/backends"
)

// dialTimeout bounds the first connection: a socket that exists but does
// not answer is a daemon that is not there.
const dialTimeout = 5 * time.Second

// trimUnix accepts both "/path" and "unix:///path".
func trimUnix(addr string) string {
	return strings.TrimPrefix(addr, "unix://")
}

// endpoint is the address as Info and errors show it.
func (r *Runtime) endpoint() string { return "unix://" + r.address }

// connect checks what can be checked locally before dialling, so that the
// common failures (not root, no daemon) are one clear line at once instead
// of a dial timeout.
func (r *Runtime) connect(ctx context.Context) (*client.Client, error) {
	if os.Geteuid() != 0 {
		// CNI plugins, network namespaces and iptables need root; a
		// rootless containerd (RootlessKit) would need all of them set up
		// inside its namespaces, which this backend does not do.
		return nil, &backends.UnreachableError{
			Runtime:  runtimeName,
			Endpoint: r.endpoint(),
			Detail:   fmt.Sprintf("running as uid %d", os.Geteuid()),
			Hint:     "the containerd backend needs root (CNI networks, network namespaces, iptables) and does not support rootless containerd: run k3d as root (sudo k3d ...), or use --runtime podman for rootless clusters",
		}
	}
	if _, err := os.Stat(r.address); err != nil {
		return nil, r.unreachable(err)
	}
	if uid, err := peerUID(r.address); err == nil && uid != 0 {
		// A containerd run by another user is rootless (RootlessKit): its
		// containers live in namespaces this process cannot set up
		// networks in.
		return nil, &backends.UnreachableError{
			Runtime:  runtimeName,
			Endpoint: r.endpoint(),
			Detail:   fmt.Sprintf("the daemon runs as uid %d: rootless containerd", uid),
			Hint:     "the containerd backend does not support rootless containerd: use the system's containerd (unset CONTAINERD_ADDRESS), or --runtime podman for rootless clusters",
		}
	} else if err != nil && !errors.Is(err, fs.ErrPermission) {
		return nil, r.unreachable(err)
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := client.New(r.address, client.WithDefaultNamespace(r.namespace), client.WithTimeout(dialTimeout))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, r.unreachable(err)
	}
	// New dials without blocking on some versions: ask for the version
	// so that a dead socket is found here, once.
	if _, err := c.Version(dctx); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, r.unreachable(err)
	}
	return c, nil
}

// unreachable says where containerd was looked for and how to start it.
func (r *Runtime) unreachable(err error) error {
	e := &backends.UnreachableError{Runtime: runtimeName, Endpoint: r.endpoint(), Detail: err.Error()}
	switch {
	case errors.Is(err, fs.ErrPermission):
		e.Hint = "run k3d as root: the socket is root's"
	case r.address == DefaultAddress:
		e.Hint = "start it with: sudo containerd & (or: sudo systemctl start containerd), or point CONTAINERD_ADDRESS at a running daemon"
	default:
		e.Hint = "start containerd listening there, or point CONTAINERD_ADDRESS at a running daemon"
	}
	return e
}

// peerUID is the user the process listening on a unix socket runs as.
func peerUID(path string) (uint32, error) {
	c, err := net.DialTimeout("unix", path, dialTimeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	return cred.Uid, nil
}
