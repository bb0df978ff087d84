package containerd

import (
	"bufio"
	"context"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/k3d/k3d/backends"
)

// Deleting nodes, networks and volumes leaves nothing on the host: no
// network namespace, veth, bridge, iptables rule, address allocation, cached
// CNI result, mount, file, container or snapshot.
func TestDeleteLeavesNothing(t *testing.T) {
	rt := needContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	first, second := testName(t, "clean-a"), testName(t, "clean-b")
	vol := testName(t, "clean-vol")
	for _, n := range []string{first, second} {
		if _, err := rt.CreateNetwork(ctx, backends.NetworkSpec{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	nodeA, nodeB := testName(t, "clean-a"), testName(t, "clean-b")
	for _, n := range []string{nodeA, nodeB} {
		_, err := rt.CreateNode(ctx, backends.NodeSpec{
			Name:          n,
			Image:         suite.image,
			Cmd:           []string{"serve", "7000"},
			Networks:      []backends.NetworkAttachment{{Network: first, Aliases: []string{n + "-alias"}}},
			Ports:         []backends.PortMapping{{ContainerPort: 7000}, {ContainerPort: 7000, Protocol: "udp", HostIP: "127.0.0.1"}},
			Mounts:        []backends.Mount{{Type: backends.MountVolume, Source: vol, Target: "/vol"}},
			RestartPolicy: backends.RestartUnlessStopped,
		})
		if err != nil {
			t.Fatalf("create node %s: %v", n, err)
		}
		if err := rt.StartNode(ctx, n); err != nil {
			t.Fatalf("start node %s: %v", n, err)
		}
	}
	if err := rt.ConnectNetwork(ctx, second, nodeB, nil); err != nil {
		t.Fatal(err)
	}
	var ids, ips, bridges, veths []string
	for _, n := range []string{nodeA, nodeB} {
		rec, err := rt.nodeRecord(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.meta.ID)
		for _, a := range rec.meta.Networks {
			ips = append(ips, a.IPv4)
		}
	}
	for _, n := range []string{first, second} {
		c, err := rt.readNetwork(n)
		if err != nil {
			t.Fatal(err)
		}
		bridges = append(bridges, c.K3d.Bridge)
		veths = append(veths, linksOf(t, c.K3d.Bridge)...)
	}
	if len(veths) != 3 {
		t.Errorf("veths on the bridges: %q, want 3 (two nodes, one on both networks)", veths)
	}
	if rules := iptablesMatching(t, ids, ips); len(rules) == 0 {
		t.Errorf("no iptables rule names the nodes while they run: the check below would prove nothing")
	}

	for _, n := range []string{nodeA, nodeB} {
		if err := rt.DeleteNode(ctx, n); err != nil {
			t.Fatalf("delete node %s: %v", n, err)
		}
	}
	for _, n := range []string{first, second} {
		if err := rt.DeleteNetwork(ctx, n); err != nil {
			t.Fatalf("delete network %s: %v", n, err)
		}
	}
	if err := rt.DeleteVolume(ctx, vol); err != nil {
		t.Fatal(err)
	}

	for _, l := range append(bridges, veths...) {
		if _, err := netlink.LinkByName(l); err == nil {
			t.Errorf("link %s left behind", l)
		}
	}
	if rules := iptablesMatching(t, ids, ips); len(rules) > 0 {
		t.Errorf("iptables rules left behind:\n%s", strings.Join(rules, "\n"))
	}
	for _, dir := range []string{rt.root.path("nodes"), rt.root.netnsDir(), rt.root.path("cni-cache", "results"), rt.root.ipamDir(), rt.root.networksDir(), rt.root.volumesDir()} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				t.Errorf("file left behind: %s", p)
			}
			return nil
		})
	}
	if m := mountsUnder(t, rt.root.root); len(m) > 0 {
		t.Errorf("mounts left behind: %q", m)
	}
	cli, nctx, err := rt.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := cli.SnapshotService("overlayfs").Stat(nctx, id); err == nil {
			t.Errorf("snapshot %s left behind", id)
		}
	}
	for _, n := range []string{nodeA, nodeB} {
		if _, err := cli.ContainerService().Get(nctx, n); err == nil {
			t.Errorf("container %s left behind", n)
		}
	}
}

// linksOf lists the interfaces attached to a bridge.
func linksOf(t *testing.T, bridge string) []string {
	t.Helper()
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		t.Fatalf("bridge %s: %v", bridge, err)
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

// iptablesMatching lists the rules that name any of the IDs or addresses.
func iptablesMatching(t *testing.T, ids, ips []string) []string {
	t.Helper()
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Skipf("iptables-save: %v", err)
	}
	var rules []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		l := sc.Text()
		for _, s := range append(append([]string{}, ids...), ips...) {
			if s != "" && (strings.Contains(l, s+"/") || strings.Contains(l, s+" ") || strings.Contains(l, s+"\"") || strings.Contains(l, s+":")) {
				rules = append(rules, l)
				break
			}
		}
	}
	return rules
}

// mountsUnder lists the mount points under dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	return out
}

// After a host reboot a node's network namespace is gone (the bind mount
// goes, an empty file stays) with its veth; starting the node makes it
// again, with the node's address and published port.
func TestStartAfterNetNSLost(t *testing.T) {
	rt := needContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	netName := testName(t, "reboot")
	if _, err := rt.CreateNetwork(ctx, backends.NetworkSpec{Name: netName}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.DeleteNetwork(context.Background(), netName) })
	name := testName(t, "reboot")
	n := runNode(t, ctx, backends.NodeSpec{Name: name, Cmd: []string{"serve", "7000"}, Networks: []backends.NetworkAttachment{{Network: netName}},
		Ports: []backends.PortMapping{{HostIP: "127.0.0.1", ContainerPort: 7000}}})
	before := n.Networks[0].IPv4
	if err := rt.StopNode(ctx, name, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	rec, err := rt.nodeRecord(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(rec.meta.NetNS, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if netNSAlive(rec.meta.NetNS) {
		t.Fatalf("network namespace %s still there after unmounting it", rec.meta.NetNS)
	}
	if err := rt.StartNode(ctx, name); err != nil {
		t.Fatalf("start node %s after its network namespace was lost: %v", name, err)
	}
	after, err := rt.InspectNode(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if after.Networks[0].IPv4 != before || !after.State.Running {
		t.Errorf("node %s after its network namespace was made again: %+v, %+v; want running at %s", name, after.Networks, after.State, before)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(after.Ports[0].HostPort)))
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("published port %s after the network namespace was made again: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, code := run(t, ctx, name, "", "resolve", name); code != 0 || strings.TrimSpace(out) != before {
		t.Errorf("node %s resolves itself to %q (exit %d), want %s", name, out, code, before)
	}
}
