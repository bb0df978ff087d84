package conformance

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

// testNodeSpec: what a node spec asks for is visible inside the node: tmpfs
// mounts of the requested size, the memory limit, extra /etc/hosts entries,
// a hostname, the user, and the command.
func testNodeSpec(t *testing.T, f *fixture) {
	const (
		tmpfsSize = 8 << 20
		memory    = 96 << 20
	)
	name := f.name("node")
	hostname := "conf-" + f.s.runID + "-host"
	f.runNode(backends.NodeSpec{
		Name:       name,
		Hostname:   hostname,
		Entrypoint: []string{"/testprog", "exit-after"},
		Cmd:        []string{"1h", "0"},
		User:       "2345:2345",
		Mounts: []backends.Mount{
			{Type: backends.MountTmpfs, Target: "/run/conf", TmpfsSize: tmpfsSize},
			{Type: backends.MountTmpfs, Target: "/var/conf"},
		},
		ExtraHosts: []backends.HostEntry{
			{Hostname: "conf-extra.example", IP: "10.11.12.13"},
			{Hostname: "host.k3d.internal", IP: "10.11.12.14"},
		},
	})
	n := f.inspect(name)

	t.Run("tmpfs", func(t *testing.T) {
		f := f.on(t)
		if out := strings.TrimSpace(f.run(name, "fsinfo", "/run/conf")); out != fmt.Sprintf("tmpfs %d", tmpfsSize) {
			t.Errorf("/run/conf in %s: %q, want a tmpfs of %d bytes", name, out, tmpfsSize)
		}
		if out := strings.TrimSpace(f.run(name, "fsinfo", "/var/conf")); !strings.HasPrefix(out, "tmpfs ") {
			t.Errorf("/var/conf in %s: %q, want a tmpfs", name, out)
		}
		if out := strings.TrimSpace(f.run(name, "fsinfo", "/conf")); strings.HasPrefix(out, "tmpfs ") {
			t.Errorf("/conf in %s is a tmpfs, yet no mount asked for one there", name)
		}
		if m := findMount(n.Mounts, "/run/conf"); m == nil || m.Type != backends.MountTmpfs {
			t.Errorf("node %s: inspect reports mount %+v at /run/conf, want a tmpfs", name, m)
		}
	})
	t.Run("memory-limit", func(t *testing.T) {
		f := f.on(t)
		limited := f.name("limited")
		spec := backends.NodeSpec{Name: limited, MemoryLimit: memory}
		// A rootless runtime on cgroup v1 has no memory controller of its
		// own: the contract wants a refusal there, never a silently
		// unlimited node.
		if f.s.info.Rootless && f.s.info.CgroupVersion == 1 {
			_, err := f.rt.CreateNode(f.ctx, f.nodeSpec(spec))
			wantKind(t, "a memory limit on rootless cgroup v1", err, backends.ErrInvalid)
			if _, ierr := f.rt.InspectNode(f.ctx, limited); !backends.IsNotFound(ierr) {
				t.Errorf("refused node %s exists: %v", limited, ierr)
			}
			return
		}
		f.runNode(spec)
		if out := strings.TrimSpace(f.run(limited, "memlimit")); out != fmt.Sprint(memory) {
			t.Errorf("memory limit inside %s: %q, want %d", limited, out, memory)
		}
		ln := f.inspect(limited)
		if ln.MemoryLimit != memory {
			t.Errorf("node %s: inspect reports memory limit %d, want %d", limited, ln.MemoryLimit, memory)
		}
		// The kubelet reads a node's memory from /proc/meminfo, not from
		// its cgroup.
		wantMemTotal := fmt.Sprintf("MemTotal: %d kB", memory/1024)
		if out := f.run(limited, "cat", backends.MeminfoPath); !strings.Contains(out, wantMemTotal+"\n") {
			t.Errorf("%s inside %s: %q, want a line %q", backends.MeminfoPath, limited, out, wantMemTotal)
		}
		if m := findMount(ln.Mounts, backends.MeminfoPath); m != nil {
			t.Errorf("node %s: inspect reports the backend's own mount %+v; it is not one of the spec's", limited, m)
		}
		// A clash on the name leaves the existing node what it was made with.
		_, err := f.rt.CreateNode(f.ctx, f.nodeSpec(backends.NodeSpec{Name: limited, MemoryLimit: 2 * memory}))
		wantKind(t, "a second node named "+limited, err, backends.ErrAlreadyExists)
		if out := f.run(limited, "cat", backends.MeminfoPath); !strings.Contains(out, wantMemTotal+"\n") {
			t.Errorf("%s inside %s after a clashing create: %q, want a line %q", backends.MeminfoPath, limited, out, wantMemTotal)
		}
	})
	t.Run("ulimits-and-host-pid", func(t *testing.T) {
		f := f.on(t)
		// Lower than any host's default, so that rootless runtimes (which
		// cannot raise a hard limit) can grant it too.
		limited := f.name("ulimit")
		want := backends.Ulimit{Name: "memlock", Soft: 4096, Hard: 8192}
		f.runNode(backends.NodeSpec{Name: limited, Ulimits: []backends.Ulimit{want}})
		if out := strings.TrimSpace(f.run(limited, "memlock")); out != "4096 8192" {
			t.Errorf("locked-memory limit inside %s: %q, want 4096 8192", limited, out)
		}
		if ln := f.inspect(limited); !slices.Contains(ln.Ulimits, want) {
			t.Errorf("node %s: inspect reports ulimits %+v, want %+v among them", limited, ln.Ulimits, want)
		}
		// A node of its own PID namespace has its main process as PID 1;
		// one in the host's sees the host's PID 1 instead.
		if out := f.run(limited, "cat", "/proc/1/cmdline"); !strings.Contains(out, "testprog") {
			t.Errorf("PID 1 of %s is %q, want its own main process", limited, out)
		}
		hostPID := f.name("hostpid")
		f.runNode(backends.NodeSpec{Name: hostPID, HostPID: true})
		if out := f.run(hostPID, "cat", "/proc/1/cmdline"); strings.Contains(out, "testprog") {
			t.Errorf("PID 1 of %s is its own main process %q, want the host's", hostPID, out)
		}
		if hn := f.inspect(hostPID); !hn.HostPID {
			t.Errorf("node %s: inspect does not report the host PID namespace", hostPID)
		}
	})
	t.Run("invalid-resources", func(t *testing.T) {
		f := f.on(t)
		// Every backend refuses a resource request it cannot read, with
		// ErrInvalid and before it makes anything: never a node with the
		// request dropped.
		i := 0
		for what, bad := range map[string]backends.NodeSpec{
			"a negative memory limit":        {MemoryLimit: -1},
			"a ulimit of an unknown name":    {Ulimits: []backends.Ulimit{{Name: "files", Soft: 1, Hard: 1}}},
			"a ulimit soft above hard":       {Ulimits: []backends.Ulimit{{Name: "nofile", Soft: 2, Hard: 1}}},
			"a ulimit given twice":           {Ulimits: []backends.Ulimit{{Name: "nofile", Soft: 1, Hard: 1}, {Name: "nofile", Soft: 2, Hard: 2}}},
			"a GPU request that is no count": {GPUs: "many"},
			"a GPU count of zero":            {GPUs: "0"},
		} {
			i++
			bad.Name = f.name(fmt.Sprintf("badres%d", i))
			_, err := f.rt.CreateNode(f.ctx, f.nodeSpec(bad))
			wantKind(t, what, err, backends.ErrInvalid)
			if _, ierr := f.rt.InspectNode(f.ctx, bad.Name); !backends.IsNotFound(ierr) {
				t.Errorf("%s: refused node %s exists: %v", what, bad.Name, ierr)
			}
		}
	})
	t.Run("gpus", func(t *testing.T) {
		f := f.on(t)
		// A GPU request is granted or refused with ErrPrerequisite (at
		// create, or at start where the runtime finds its devices only
		// then), never dropped: a node that runs must say it has them.
		gpu := f.name("gpu")
		n, err := f.rt.CreateNode(f.ctx, f.nodeSpec(backends.NodeSpec{Name: gpu, GPUs: "all"}))
		if err != nil {
			wantKind(t, "a GPU request the host cannot grant, at create", err, backends.ErrPrerequisite)
			if _, ierr := f.rt.InspectNode(f.ctx, gpu); !backends.IsNotFound(ierr) {
				t.Errorf("refused node %s exists: %v", gpu, ierr)
			}
			return
		}
		f.deleteLater("node", gpu, f.rt.DeleteNode)
		if n.GPUs != "all" {
			t.Errorf("node %s: create reports GPUs %q, want all", gpu, n.GPUs)
		}
		if err := f.rt.StartNode(f.ctx, gpu); err != nil {
			wantKind(t, "a GPU request the host cannot grant, at start", err, backends.ErrPrerequisite)
			return
		}
		if in := f.inspect(gpu); in.GPUs != "all" {
			t.Errorf("running node %s: inspect reports GPUs %q, want all", gpu, in.GPUs)
		}
	})
	t.Run("extra-hosts", func(t *testing.T) {
		f := f.on(t)
		hosts, err := f.readFile(name, "/etc/hosts")
		if err != nil {
			t.Fatalf("read /etc/hosts of %s: %v", name, err)
		}
		for _, want := range [][]string{{"10.11.12.13", "conf-extra.example"}, {"10.11.12.14", "host.k3d.internal"}} {
			found := false
			for _, line := range strings.Split(string(hosts), "\n") {
				fields := strings.Fields(line)
				found = found || len(fields) >= 2 && fields[0] == want[0] && slices.Contains(fields[1:], want[1])
			}
			if !found {
				t.Errorf("/etc/hosts of %s has no %s %s:\n%s", name, want[0], want[1], hosts)
			}
		}
		if out := strings.TrimSpace(f.run(name, "resolve", "conf-extra.example")); out != "10.11.12.13" {
			t.Errorf("resolve conf-extra.example in %s: %q", name, out)
		}
	})
	t.Run("identity", func(t *testing.T) {
		f := f.on(t)
		if out := strings.TrimSpace(f.run(name, "hostname")); out != hostname {
			t.Errorf("hostname inside %s: %q, want %q", name, out, hostname)
		}
		if n.Hostname != hostname {
			t.Errorf("node %s: inspect reports hostname %q, want %q", name, n.Hostname, hostname)
		}
		if out := strings.TrimSpace(f.run(name, "id")); out != "2345:2345" {
			t.Errorf("user inside %s: %q, want 2345:2345", name, out)
		}
		if want := []string{"/testprog", "exit-after", "1h", "0"}; !slices.Equal(n.Cmd, want) {
			t.Errorf("node %s: command %q, want entrypoint then cmd %q", name, n.Cmd, want)
		}
	})
}
