package loadbalancer

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// bindError explains the usual reason a port cannot be opened by the
// unprivileged proxy: ports below net.ipv4.ip_unprivileged_port_start (1024
// unless the runtime lowers it, as Docker does) need root or
// CAP_NET_BIND_SERVICE.
func bindError(k listenerKey, err error) error {
	if !errors.Is(err, syscall.EACCES) || os.Getuid() == 0 {
		return err
	}
	start := "unknown"
	if b, rerr := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); rerr == nil {
		start = strings.TrimSpace(string(b))
	}
	return fmt.Errorf("%w: uid %d may bind only ports from net.ipv4.ip_unprivileged_port_start=%s up; "+
		"run the load balancer node with that sysctl at 0, or start it as root "+
		"(it binds its ports, then drops to uid 65534), or publish the port to a container port of at least %s",
		err, os.Getuid(), start, start)
}
