package conformance

import (
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

// testPrivileged: a privileged node can do what k3s does at start (mount
// filesystems, configure its network, create cgroups) and an ordinary node
// cannot. On hosts without full privileges the backend's fallback must still
// allow all three.
func testPrivileged(t *testing.T, f *fixture) {
	priv := f.name("priv")
	plain := f.name("plain")
	f.createNode(backends.NodeSpec{Name: priv, Privileged: true})
	f.createNode(backends.NodeSpec{Name: plain})
	f.start(priv)
	f.start(plain)
	n := f.waitRunning(priv)
	f.waitRunning(plain)
	if !n.Privileged {
		t.Errorf("node %s: inspect says not privileged", priv)
	}
	if !f.s.info.FullPrivileges {
		t.Logf("runtime reports no full privileges: checking the backend's fallback")
	}

	if r := f.exec(priv, nil, "mount-tmpfs", "/tmp/conf-mount"); r.code != 0 {
		t.Errorf("privileged node %s cannot mount a tmpfs: %s", priv, r)
	}
	if r := f.exec(priv, nil, "set-mtu", "lo", "1280"); r.code != 0 || strings.TrimSpace(r.stdout) != "1280" {
		t.Errorf("privileged node %s cannot set the MTU of lo: %s", priv, r)
	}
	if r := f.exec(priv, nil, "cgroup-mkdir"); r.code != 0 {
		t.Errorf("privileged node %s cannot create a child cgroup: %s", priv, r)
	}

	if r := f.exec(plain, nil, "mount-tmpfs", "/tmp/conf-mount"); r.code == 0 {
		t.Errorf("unprivileged node %s can mount a tmpfs: %s", plain, r)
	}
	if r := f.exec(plain, nil, "set-mtu", "lo", "1280"); r.code == 0 {
		t.Errorf("unprivileged node %s can set the MTU of lo: %s", plain, r)
	}
	if n := f.inspect(plain); n.Privileged {
		t.Errorf("node %s: inspect says privileged", plain)
	}
}
