package containerd

import (
	"context"
	"fmt"
	"net"
	"strings"

	gocni "github.com/containerd/go-cni"
	"github.com/containernetworking/cni/libcni"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/k3d/k3d/backends"
)

// loopbackConf brings a node's lo up: runc does that only for network
// namespaces it creates itself, and the backend creates its own.
const loopbackConf = `{"cniVersion":"1.0.0","name":"k3d-loopback","plugins":[{"type":"loopback"}]}`

// cniConfig runs the plugins, keeping their result cache under the data
// root (not in /var/lib/cni), so that deleting k3d's state deletes it.
func (r *Runtime) cniConfig() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir(r.cniPath, r.root.path("cni-cache"), nil)
}

// cniRuntimeConf is one attachment in the words of CNI. Interface names are
// the backend's (eth0 for the first network, the next free ethN for
// networks connected later), which is why the configuration list is run
// through libcni directly: go-cni names interfaces by their position in one
// set of networks and adds or removes the whole set at once.
func cniRuntimeConf(containerID, netns string, a attachment, ports []backends.PortMapping) *libcni.RuntimeConf {
	caps := map[string]any{}
	if len(ports) > 0 {
		var pm []gocni.PortMapping
		for _, p := range ports {
			pm = append(pm, gocni.PortMapping{
				HostPort:      int32(p.HostPort),
				ContainerPort: int32(p.ContainerPort),
				Protocol:      protocol(p.Protocol),
				HostIP:        p.HostIP,
			})
		}
		caps["portMappings"] = pm
	}
	if a.IPv4 != "" {
		// A static address, or the one given before (a node whose network
		// namespace is set up again keeps its address).
		caps["ips"] = []string{a.IPv4}
	}
	return &libcni.RuntimeConf{
		ContainerID:    containerID,
		NetNS:          netns,
		IfName:         a.IfName,
		CapabilityArgs: caps,
	}
}

// protocol is a port's protocol, "tcp" when not given.
func protocol(p string) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(p)
}

// cniAdd attaches the node's network namespace to a network and returns the
// IPv4 address it got there.
func (r *Runtime) cniAdd(ctx context.Context, containerID, netns string, a attachment, ports []backends.PortMapping) (string, error) {
	raw, err := r.rawNetwork(a.Network)
	if err != nil {
		return "", err
	}
	list, err := libcni.NetworkConfFromBytes(raw)
	if err != nil {
		return "", fmt.Errorf("network %s: %w", a.Network, err)
	}
	unlock, err := r.lock(ctx, lockCNI)
	if err != nil {
		return "", err
	}
	res, err := r.cniConfig().AddNetworkList(ctx, list, cniRuntimeConf(containerID, netns, a, ports))
	unlock()
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("attach to network %s (CNI): %w", a.Network, err)
	}
	ip, err := resultIPv4(res, a.IfName)
	if err != nil {
		return "", fmt.Errorf("attach to network %s (CNI): %w", a.Network, err)
	}
	return ip, nil
}

// cniDel detaches the node's network namespace from a network: the plugins
// release the address and remove the veth, NAT, port and firewall rules. A
// namespace that is gone (after a host reboot) is fine: the plugins clean up
// what lives outside it.
func (r *Runtime) cniDel(ctx context.Context, containerID, netns string, a attachment, ports []backends.PortMapping) error {
	raw, err := r.rawNetwork(a.Network)
	if err != nil {
		return err
	}
	list, err := libcni.NetworkConfFromBytes(raw)
	if err != nil {
		return fmt.Errorf("network %s: %w", a.Network, err)
	}
	unlock, err := r.lock(ctx, lockCNI)
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.cniConfig().DelNetworkList(ctx, list, cniRuntimeConf(containerID, netns, a, ports)); err != nil {
		return fmt.Errorf("detach from network %s (CNI): %w", a.Network, err)
	}
	return nil
}

// cniLoopback brings lo up in a fresh network namespace.
func (r *Runtime) cniLoopback(ctx context.Context, containerID, netns string) error {
	list, err := libcni.NetworkConfFromBytes([]byte(loopbackConf))
	if err != nil {
		return err
	}
	unlock, err := r.lock(ctx, lockCNI)
	if err != nil {
		return err
	}
	defer unlock()
	rt := &libcni.RuntimeConf{ContainerID: containerID, NetNS: netns, IfName: "lo"}
	if _, err := r.cniConfig().AddNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("bring up lo (CNI): %w", err)
	}
	// The loopback plugin keeps nothing outside the namespace: drop the
	// result libcni cached, so that nothing stays behind after delete.
	_ = r.cniConfig().DelNetworkList(ctx, list, &libcni.RuntimeConf{ContainerID: containerID, IfName: "lo"})
	return nil
}

// resultIPv4 is the IPv4 address a CNI result gives the interface ifName
// inside the namespace.
func resultIPv4(res cnitypes.Result, ifName string) (string, error) {
	if res == nil {
		return "", fmt.Errorf("the plugins gave no result")
	}
	cur, err := types100.GetResult(res)
	if err != nil {
		return "", err
	}
	for _, ipc := range cur.IPs {
		if ipc.Address.IP.To4() == nil {
			continue
		}
		if ipc.Interface != nil && *ipc.Interface < len(cur.Interfaces) {
			if iface := cur.Interfaces[*ipc.Interface]; iface.Sandbox == "" || iface.Name != ifName {
				continue
			}
		}
		return ipc.Address.IP.String(), nil
	}
	return "", fmt.Errorf("the plugins gave %s no IPv4 address", ifName)
}

// ipv4Of checks an address given in a spec.
func ipv4Of(s string) (string, error) {
	ip := net.ParseIP(s)
	if ip == nil || ip.To4() == nil {
		return "", fmt.Errorf("%q is not an IPv4 address", s)
	}
	return ip.To4().String(), nil
}
