package docker

import (
	"context"
	"github.com/k3d/k3d/backends/internal/caps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/k3d/k3d/backends"
)

// hostMissingCaps is what this machine's bounding set lacks (CAP_SYS_RESOURCE
// on the build machines); empty on an ordinary host.
func hostMissingCaps(t *testing.T) []string {
	t.Helper()
	bnd, last, err := localCaps()
	if err != nil {
		t.Fatalf("read capabilities: %v", err)
	}
	return (caps.All(last) &^ bnd).Names()
}

// freshRuntime is a Runtime that has decided nothing yet.
func freshRuntime(t *testing.T) (*Runtime, *syncBuffer) {
	t.Helper()
	report := &syncBuffer{}
	rt, err := New(Options{Report: report})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt, report
}

// Privileged nodes start on this host whatever it lacks, and can do what a
// k3s node does with its privileges. Deciding happens once per process, even
// when nodes are created concurrently, with one debug line.
func TestPrivilegedNode(t *testing.T) {
	needDaemon(t)
	if suite.rt.endpoint.scheme() != "unix" {
		t.Skip("compares with this machine's capabilities: needs a local daemon")
	}
	missing := hostMissingCaps(t)
	rt, report := freshRuntime(t)
	ctx := context.Background()

	specs := make([]backends.NodeSpec, 3)
	var wg sync.WaitGroup
	errs := make([]error, len(specs))
	for i := range specs {
		specs[i] = nodeSpec(t, "priv"+strconv.Itoa(i))
		specs[i].Privileged = true
		t.Cleanup(func() { cleanupNode(specs[i].Name) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = rt.CreateNode(ctx, specs[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("CreateNode %s: %v", specs[i].Name, err)
		}
	}

	lines := strings.Count(report.String(), "privileged nodes use the fallback")
	info, err := rt.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) == 0 {
		if lines != 0 || !info.FullPrivileges {
			t.Errorf("host has every capability, yet fallback reported: %q, FullPrivileges %v", report.String(), info.FullPrivileges)
		}
	} else {
		if lines != 1 {
			t.Errorf("fallback reported %d times, want once: %q", lines, report.String())
		}
		for _, c := range missing {
			if !strings.Contains(report.String(), c) {
				t.Errorf("debug line %q does not name the missing %s", report.String(), c)
			}
		}
		if info.FullPrivileges || len(info.Notes) == 0 || !strings.Contains(strings.Join(info.Notes, "\n"), missing[0]) {
			t.Errorf("Info on a host lacking %v: FullPrivileges %v, notes %q", missing, info.FullPrivileges, info.Notes)
		}
	}

	if err := rt.StartNode(ctx, specs[0].Name); err != nil {
		t.Fatalf("a privileged node does not start: %v", err)
	}
	n, err := rt.InspectNode(ctx, specs[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	if !n.Privileged || !n.State.Running {
		t.Errorf("node = privileged %v running %v, want both", n.Privileged, n.State.Running)
	}
	if len(missing) > 0 && (n.Labels[labelPrivileged] != "fallback" || len(n.Mounts) != 0) {
		t.Errorf("fallback node: labels %v mounts %v, want the fallback label and no mounts of its own", n.Labels, n.Mounts)
	}
	out, errOut, code := execOut(t, specs[0].Name, "privcheck")
	if code != 0 {
		t.Errorf("privcheck in a privileged node failed (%d):\n%s%s", code, out, errOut)
	}
	t.Logf("privcheck:\n%s", out)

	// The checks are not vacuous: an ordinary node fails them.
	plain := nodeSpec(t, "unpriv")
	startedNode(t, plain)
	out, _, code = execOut(t, plain.Name, "privcheck")
	if code == 0 || !strings.Contains(out, "FAIL cgroup-write") || !strings.Contains(out, "FAIL mount-tmpfs") {
		t.Errorf("privcheck in an unprivileged node passed (%d):\n%s", code, out)
	}
}

// A daemon that is not local gives no bounding set to read: probes alone must
// find what the host cannot grant. This runs the remote path against the
// local daemon and expects the same answer as the local proxy.
func TestPrivilegesByProbesOnly(t *testing.T) {
	needDaemon(t)
	if suite.rt.endpoint.scheme() != "unix" {
		t.Skip("compares with this machine's capabilities: needs a local daemon")
	}
	missing := hostMissingCaps(t)
	if len(missing) == 0 {
		t.Skip("this host grants every capability: the search has nothing to find")
	}
	local, _ := freshRuntime(t)
	want, err := local.privilegesFor(context.Background(), suite.image)
	if err != nil {
		t.Fatal(err)
	}
	rt, report := freshRuntime(t)
	rt.endpoint = endpoint{host: "tcp://remote.invalid:2376", source: "test"} // not local; the client still talks to the real daemon
	p, err := rt.privilegesFor(context.Background(), suite.image)
	if err != nil {
		t.Fatal(err)
	}
	if p.full || !slices.Equal(p.caps, want.caps) || !slices.Equal(p.missing, missing) || !slices.Equal(p.unknown, want.unknown) {
		t.Errorf("probes found caps %v missing %v unknown %v,\nthe local proxy caps %v missing %v unknown %v",
			p.caps, p.missing, p.unknown, want.caps, want.missing, want.unknown)
	}
	if !slices.Equal(want.missing, missing) {
		t.Errorf("the local proxy says missing %v, the bounding set %v", want.missing, missing)
	}
	if !p.kmsg {
		t.Error("a remote daemon's /dev/kmsg should be assumed present")
	}
	if !strings.Contains(report.String(), "probes") {
		t.Errorf("debug line %q does not say the probes decided", report.String())
	}
	// The verdict is cached: no second round of probes.
	before := countProbes(t)
	if _, err := rt.privilegesFor(context.Background(), suite.image); err != nil {
		t.Fatal(err)
	}
	if after := countProbes(t); after != before {
		t.Errorf("second call left %d probe containers behind or ran probes", after-before)
	}
}

func countProbes(t *testing.T) int {
	t.Helper()
	list, err := suite.rt.cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: labelFilter(map[string]string{labelProbe: "true"})})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func TestFallbackHostConfig(t *testing.T) {
	p := privileges{caps: []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}, missing: []string{"CAP_SYS_RESOURCE"}, kmsg: true}
	hc := &container.HostConfig{}
	if label := p.apply(hc); label != "fallback" {
		t.Errorf("label = %q", label)
	}
	if hc.Privileged {
		t.Error("the fallback must not ask for the daemon's privileged mode")
	}
	if !slices.Equal(hc.CapAdd, p.caps) {
		t.Errorf("CapAdd = %v", hc.CapAdd)
	}
	for _, opt := range []string{"seccomp=unconfined", "apparmor=unconfined", "label=disable"} {
		if !slices.Contains(hc.SecurityOpt, opt) {
			t.Errorf("SecurityOpt %v lacks %s", hc.SecurityOpt, opt)
		}
	}
	if hc.MaskedPaths == nil || len(hc.MaskedPaths) != 0 || hc.ReadonlyPaths == nil || len(hc.ReadonlyPaths) != 0 {
		t.Errorf("MaskedPaths %#v ReadonlyPaths %#v, want empty and non-nil (systempaths=unconfined)", hc.MaskedPaths, hc.ReadonlyPaths)
	}
	if !slices.Equal(hc.DeviceCgroupRules, []string{"a *:* rwm"}) {
		t.Errorf("DeviceCgroupRules = %v", hc.DeviceCgroupRules)
	}
	if len(hc.Devices) != 1 || hc.Devices[0].PathOnHost != "/dev/kmsg" {
		t.Errorf("Devices = %+v", hc.Devices)
	}
	if len(hc.Mounts) != 1 || hc.Mounts[0].Source != cgroupRoot || hc.Mounts[0].ReadOnly || hc.CgroupnsMode != container.CgroupnsModeHost {
		t.Errorf("cgroup mount = %+v, cgroupns %q", hc.Mounts, hc.CgroupnsMode)
	}

	// A node that mounts its own cgroup tree keeps it.
	own := mount.Mount{Type: mount.TypeBind, Source: "/elsewhere", Target: cgroupRoot}
	hc = &container.HostConfig{Mounts: []mount.Mount{own}}
	p.kmsg = false
	p.apply(hc)
	if len(hc.Mounts) != 1 || hc.Mounts[0] != own || len(hc.Devices) != 0 {
		t.Errorf("mounts %+v devices %+v, want the node's own cgroup mount and no /dev/kmsg", hc.Mounts, hc.Devices)
	}

	hc = &container.HostConfig{}
	if label := (privileges{full: true}).apply(hc); label != "" || !hc.Privileged || len(hc.CapAdd) != 0 {
		t.Errorf("full privileges: label %q, host config %+v", label, hc)
	}
}

func TestCaps(t *testing.T) {
	status := []byte("Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n")
	bnd, err := caps.ParseBnd(status)
	if err != nil {
		t.Fatal(err)
	}
	if missing := (caps.All(40) &^ bnd).Names(); !slices.Equal(missing, []string{"CAP_SYS_RESOURCE"}) {
		t.Errorf("missing = %v, want CAP_SYS_RESOURCE", missing)
	}
	if n := len(caps.All(40).Names()); n != 41 {
		t.Errorf("caps.All(40) has %d names", n)
	}
	if n := len(caps.All(63).Names()); n != len(caps.Names) {
		t.Errorf("a kernel with more capabilities than we know: %d names", n)
	}
	if _, err := caps.ParseBnd([]byte("Name:\tx\n")); err == nil {
		t.Error("no CapBnd line parsed")
	}
	if got := caps.Of([]string{"CAP_CHOWN", "CAP_NOPE"}); got != 1 {
		t.Errorf("caps.Of = %b", got)
	}

	for msg, want := range map[string]bool{
		"failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply caps: operation not permitted: unknown": true,
		`exec: "/nonexistent": stat /nonexistent: no such file or directory: unknown`:                                                                                          false,
	} {
		if got := isCapsError(errString(msg)); got != want {
			t.Errorf("isCapsError(%q) = %v", msg, got)
		}
	}
	if m := unknownCapRE.FindStringSubmatch(`Error response from daemon: unknown capability: "CAP_BPF"`); m == nil || m[1] != "CAP_BPF" {
		t.Errorf("unknown capability not recognized: %v", m)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// A daemon started with --userns-remap refuses privileged containers unless
// they keep the host's user namespace; nodes must ask for it.
func TestPrivilegedNodesKeepHostUsernsUnderRemap(t *testing.T) {
	opts := securityOptions([]string{"name=apparmor", "name=seccomp,profile=builtin", "name=userns"})
	if !opts["userns"] || opts["rootless"] {
		t.Fatalf("security options %v", opts)
	}
	for _, p := range []privileges{{full: true, hostUserns: true}, {caps: []string{"CAP_SYS_ADMIN"}, hostUserns: true}} {
		hc := &container.HostConfig{}
		p.apply(hc)
		if hc.UsernsMode != "host" {
			t.Errorf("privileges %+v under userns-remap: UsernsMode %q, want host", p, hc.UsernsMode)
		}
	}
	hc := &container.HostConfig{}
	privileges{full: true}.apply(hc)
	if hc.UsernsMode != "" || !hc.Privileged {
		t.Errorf("without remap: UsernsMode %q, privileged %t", hc.UsernsMode, hc.Privileged)
	}
}
