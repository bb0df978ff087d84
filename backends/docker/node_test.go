package docker

import (
	"bytes"
	"context"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// A smoke run of a node's life: create with most of the spec, start,
// inspect what the daemon made of it, exec, stop, start, kill, delete.
func TestNodeLifecycle(t *testing.T) {
	rt, ctx := needDaemon(t)
	subnet := testSubnet(t)
	prefix := strings.TrimSuffix(subnet, "0/24")
	net1 := createNetwork(t, backends.NetworkSpec{Name: uniqueName(t, "net1"), Labels: labels(), Subnet: subnet})
	net2 := createNetwork(t, backends.NetworkSpec{Name: uniqueName(t, "net2"), Labels: labels()})
	vol := uniqueName(t, "vol")
	t.Cleanup(func() { cleanupVolume(vol) })

	spec := nodeSpec(t, "life")
	spec.Hostname = "life-host"
	spec.Env = []string{"K3D_TEST=yes"}
	spec.Labels["k3d.role"] = "server"
	spec.Ports = []backends.PortMapping{
		{HostIP: "127.0.0.1", HostPort: 0, ContainerPort: 6443, Protocol: "tcp"},
		{ContainerPort: 8472, Protocol: "udp"},
	}
	spec.Mounts = []backends.Mount{
		{Type: backends.MountVolume, Source: vol, Target: "/data"},
		{Type: backends.MountTmpfs, Target: "/run", TmpfsSize: 8 << 20},
		{Type: backends.MountBind, Source: t.TempDir(), Target: "/host", ReadOnly: true},
	}
	spec.Networks = []backends.NetworkAttachment{
		{Network: net1.Name, Aliases: []string{"life-alias"}, IPv4: prefix + "10"},
		{Network: net2.Name, Aliases: []string{"second-alias"}},
	}
	spec.RestartPolicy = backends.RestartUnlessStopped
	spec.MemoryLimit = 256 << 20
	spec.ExtraHosts = []backends.HostEntry{{Hostname: "host.k3d.internal", IP: prefix + "1"}}

	created := createNode(t, spec)
	if created.State.Status != backends.StatusCreated || created.State.Running {
		t.Errorf("created node state = %+v, want created and not running", created.State)
	}
	if len(created.Networks) != 2 {
		t.Fatalf("created node is on %+v, want both networks (the second connected after create)", created.Networks)
	}
	if err := rt.StartNode(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	if err := rt.StartNode(ctx, spec.Name); err != nil {
		t.Errorf("starting a running node: %v, want no error", err)
	}
	n, err := rt.InspectNode(ctx, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !n.State.Running || n.State.Status != backends.StatusRunning || n.State.StartedAt.IsZero() {
		t.Errorf("state = %+v, want running with a start time", n.State)
	}
	if n.Hostname != "life-host" || n.Image != suite.image || n.Labels["k3d.role"] != "server" {
		t.Errorf("hostname/image/labels = %q %q %v", n.Hostname, n.Image, n.Labels)
	}
	own := map[string]string{}
	for k, v := range n.Labels {
		if !strings.HasPrefix(k, labelPrefix) {
			own[k] = v
		}
	}
	if !maps.Equal(own, spec.Labels) {
		t.Errorf("labels = %v, want the given %v (and the backend's own k3d.runtime. ones), not the image's", n.Labels, spec.Labels)
	}
	if !slices.Contains(n.Env, "K3D_TEST=yes") {
		t.Errorf("env %v lacks K3D_TEST=yes", n.Env)
	}
	if !slices.Equal(n.Cmd, []string{"/testprog", "serve"}) {
		t.Errorf("cmd = %v, want the image's entrypoint and cmd", n.Cmd)
	}
	if n.RestartPolicy != backends.RestartUnlessStopped || n.MemoryLimit != 256<<20 {
		t.Errorf("restart policy %q, memory %d", n.RestartPolicy, n.MemoryLimit)
	}
	if n.Networks[0].Network != net1.Name || n.Networks[0].IPv4 != prefix+"10" || !slices.Equal(n.Networks[0].Aliases, []string{"life-alias"}) {
		t.Errorf("primary network = %+v, want %s at %s10 with alias life-alias only", n.Networks[0], net1.Name, prefix)
	}
	if n.Networks[1].Network != net2.Name || n.Networks[1].IPv4 == "" || !slices.Equal(n.Networks[1].Aliases, []string{"second-alias"}) {
		t.Errorf("second network = %+v", n.Networks[1])
	}
	var api, vxlan *backends.PortMapping
	for i, p := range n.Ports {
		switch p.ContainerPort {
		case 6443:
			api = &n.Ports[i]
		case 8472:
			vxlan = &n.Ports[i]
		}
	}
	if api == nil || api.HostIP != "127.0.0.1" || api.HostPort == 0 || api.Protocol != "tcp" {
		t.Errorf("port 6443 published as %+v, want 127.0.0.1 with the random port chosen", api)
	}
	if vxlan == nil || vxlan.HostIP != "" || vxlan.HostPort == 0 || vxlan.Protocol != "udp" {
		t.Errorf("port 8472/udp published as %+v (all of %+v), want on all addresses, one entry", vxlan, n.Ports)
	}
	wantMounts := []backends.Mount{spec.Mounts[0], spec.Mounts[2], spec.Mounts[1]} // by target
	if !slices.Equal(n.Mounts, wantMounts) {
		t.Errorf("mounts = %+v, want %+v", n.Mounts, wantMounts)
	}

	// The node's view: hosts entry, DNS by alias on both networks, tmpfs.
	out, _, _ := execOut(t, spec.Name, "resolve", "host.k3d.internal")
	if strings.TrimSpace(out) != prefix+"1" {
		t.Errorf("host.k3d.internal resolves to %q", out)
	}
	for _, alias := range []string{"life-alias", "second-alias", spec.Name} {
		if out, errOut, code := execOut(t, spec.Name, "resolve", alias); code != 0 {
			t.Errorf("resolve %s: exit %d: %s%s", alias, code, out, errOut)
		}
	}
	if out, _, code := execOut(t, spec.Name, "write", "/data/f", "x"); code != 0 {
		t.Errorf("writing to the volume: exit %d %s", code, out)
	}

	if err := rt.StopNode(ctx, spec.Name, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	n, err = rt.InspectNode(ctx, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if n.State.Running || n.State.Status != backends.StatusExited || n.State.ExitCode != 0 {
		t.Errorf("after stop: %+v, want exited 0 (the program exits cleanly on SIGTERM)", n.State)
	}
	if err := rt.StopNode(ctx, spec.Name, time.Second); err != nil {
		t.Errorf("stopping a stopped node: %v, want no error", err)
	}
	if err := rt.KillNode(ctx, spec.Name, ""); !backends.IsNotRunning(err) {
		t.Errorf("killing a stopped node: %v, want ErrNotRunning", err)
	}
	if _, err := rt.Exec(ctx, spec.Name, backends.ExecSpec{Cmd: []string{"echo"}}); !backends.IsNotRunning(err) {
		t.Errorf("exec in a stopped node: %v, want ErrNotRunning", err)
	}
	if err := rt.StartNode(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	if err := rt.KillNode(ctx, spec.Name, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	// Deleting keeps the named volume.
	if err := rt.DeleteNode(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.InspectNode(ctx, spec.Name); !backends.IsNotFound(err) {
		t.Errorf("inspect after delete: %v, want ErrNotFound", err)
	}
	if _, err := rt.InspectVolume(ctx, vol); err != nil {
		t.Errorf("named volume after node delete: %v, want kept", err)
	}
	if err := rt.DeleteNode(ctx, spec.Name); !backends.IsNotFound(err) {
		t.Errorf("deleting a deleted node: %v, want ErrNotFound", err)
	}
}

func TestCreateNodeErrors(t *testing.T) {
	rt, ctx := needDaemon(t)

	t.Run("missing image is not pulled", func(t *testing.T) {
		spec := nodeSpec(t, "noimg")
		spec.Image = "k3d-test/not-there:" + suite.runID
		_, err := rt.CreateNode(ctx, spec)
		wantKind(t, err, backends.IsNotFound, "ErrNotFound", `image "k3d-test/not-there:`)
		if ok, _ := rt.ImageExists(ctx, spec.Image); ok {
			t.Error("the image was pulled")
		}
	})

	t.Run("name clash leaves the existing node", func(t *testing.T) {
		spec := nodeSpec(t, "clash")
		first := createNode(t, spec)
		spec.Labels["other"] = "yes"
		_, err := rt.CreateNode(ctx, spec)
		wantKind(t, err, backends.IsAlreadyExists, "ErrAlreadyExists", spec.Name)
		n, err := rt.InspectNode(ctx, spec.Name)
		if err != nil || n.ID != first.ID || n.Labels["other"] != "" {
			t.Errorf("existing node after clash: %+v, %v", n, err)
		}
	})

	t.Run("missing network is named", func(t *testing.T) {
		spec := nodeSpec(t, "nonet")
		spec.Networks = []backends.NetworkAttachment{{Network: "k3d-test-no-such-network"}}
		_, err := rt.CreateNode(ctx, spec)
		wantKind(t, err, backends.IsNotFound, "ErrNotFound", `network "k3d-test-no-such-network"`)
	})

	t.Run("failure after create leaves nothing", func(t *testing.T) {
		// A static address on a network without a configured subnet is
		// refused: the connect after create fails, and the node and the
		// volume it made must be gone again.
		net1 := createNetwork(t, backends.NetworkSpec{Name: uniqueName(t, "rb1"), Labels: labels()})
		net2 := createNetwork(t, backends.NetworkSpec{Name: uniqueName(t, "rb2"), Labels: labels()})
		vol := uniqueName(t, "rbvol")
		t.Cleanup(func() { cleanupVolume(vol) })
		spec := nodeSpec(t, "rollback")
		spec.Mounts = []backends.Mount{{Type: backends.MountVolume, Source: vol, Target: "/data"}}
		spec.Networks = []backends.NetworkAttachment{{Network: net1.Name}, {Network: net2.Name, IPv4: "10.99.0.5"}}
		t.Cleanup(func() { cleanupNode(spec.Name) })
		if _, err := rt.CreateNode(ctx, spec); err == nil {
			t.Fatal("CreateNode with a static address on a network without subnet succeeded")
		}
		if _, err := rt.InspectNode(ctx, spec.Name); !backends.IsNotFound(err) {
			t.Errorf("node after failed create: %v, want ErrNotFound", err)
		}
		if _, err := rt.InspectVolume(ctx, vol); !backends.IsNotFound(err) {
			t.Errorf("volume made for the failed node: %v, want ErrNotFound", err)
		}
	})

	t.Run("invalid spec", func(t *testing.T) {
		spec := nodeSpec(t, "bad")
		spec.Ports = []backends.PortMapping{{ContainerPort: 80, Protocol: "icmp"}}
		_, err := rt.CreateNode(ctx, spec)
		wantKind(t, err, backends.IsInvalid, "ErrInvalid", "icmp")
	})

	t.Run("names are not ID prefixes", func(t *testing.T) {
		n := createNode(t, nodeSpec(t, "byid"))
		_, err := rt.InspectNode(ctx, n.ID[:12])
		wantKind(t, err, backends.IsNotFound, "ErrNotFound")
	})
}

func TestExec(t *testing.T) {
	rt, ctx := needDaemon(t)
	spec := nodeSpec(t, "exec")
	startedNode(t, spec)

	t.Run("streams and exit code", func(t *testing.T) {
		var out, errb bytes.Buffer
		code, err := rt.Exec(ctx, spec.Name, backends.ExecSpec{
			Cmd:    []string{"cat"},
			Stdin:  strings.NewReader("through stdin\n"),
			Stdout: &out, Stderr: &errb,
		})
		if err != nil || code != 0 || out.String() != "through stdin\n" || errb.Len() != 0 {
			t.Errorf("cat: code %d err %v stdout %q stderr %q", code, err, out.String(), errb.String())
		}
		out.Reset()
		code, err = rt.Exec(ctx, spec.Name, backends.ExecSpec{Cmd: []string{"stderr", "oops"}, Stdout: &out, Stderr: &errb})
		if err != nil || code != 0 || errb.String() != "oops\n" || out.Len() != 0 {
			t.Errorf("stderr: code %d err %v stdout %q stderr %q", code, err, out.String(), errb.String())
		}
		code, err = rt.Exec(ctx, spec.Name, backends.ExecSpec{Cmd: []string{"exit", "3"}})
		if err != nil || code != 3 {
			t.Errorf("exit 3: code %d, err %v", code, err)
		}
		// 126 and 127 from a command that did start are exit codes, not errors.
		code, err = rt.Exec(ctx, spec.Name, backends.ExecSpec{Cmd: []string{"exit", "127"}})
		if err != nil || code != 127 {
			t.Errorf("exit 127: code %d, err %v", code, err)
		}
	})

	t.Run("env workdir user", func(t *testing.T) {
		var out bytes.Buffer
		_, err := rt.Exec(ctx, spec.Name, backends.ExecSpec{Cmd: []string{"env"}, Env: []string{"FOO=bar"}, Stdout: &out})
		if err != nil || !strings.Contains(out.String(), "FOO=bar\n") {
			t.Errorf("env: %v %q", err, out.String())
		}
		out.Reset()
		_, err = rt.Exec(ctx, spec.Name, backends.ExecSpec{Cmd: []string{"pwd"}, WorkDir: "/tmp", Stdout: &out})
		if err != nil || out.String() != "/tmp\n" {
			t.Errorf("pwd: %v %q", err, out.String())
		}
		out.Reset()
		_, err = rt.Exec(ctx, spec.Name, backends.ExecSpec{Cmd: []string{"id"}, User: "1234:5678", Stdout: &out})
		if err != nil || out.String() != "1234:5678\n" {
			t.Errorf("id: %v %q", err, out.String())
		}
	})

	t.Run("command that cannot start", func(t *testing.T) {
		var out, errb bytes.Buffer
		_, err := rt.Exec(ctx, spec.Name, backends.ExecSpec{Cmd: []string{"/no/such/program"}, Stdout: &out, Stderr: &errb})
		wantKind(t, err, backends.IsInvalid, "ErrInvalid", "/no/such/program")
		if out.Len() != 0 || errb.Len() != 0 {
			t.Errorf("the daemon's error leaked into the output: stdout %q stderr %q", out.String(), errb.String())
		}
	})

	t.Run("missing node", func(t *testing.T) {
		_, err := rt.Exec(ctx, "k3d-test-no-such-node", backends.ExecSpec{Cmd: []string{"echo"}})
		wantKind(t, err, backends.IsNotFound, "ErrNotFound", `node "k3d-test-no-such-node"`)
	})

	t.Run("cancel stops a running command", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		pr, pw := io.Pipe()
		defer pw.Close()
		_, err := rt.Exec(cctx, spec.Name, backends.ExecSpec{Cmd: []string{"cat"}, Stdin: pr})
		if err == nil || time.Since(start) > 20*time.Second {
			t.Errorf("exec with a cancelled context: %v after %v", err, time.Since(start))
		}
	})
}
