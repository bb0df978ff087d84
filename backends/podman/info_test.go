package podman

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containers/podman/v4/libpod/define"
	"github.com/containers/storage/pkg/idtools"

	"github.com/k3d/k3d/backends"
)

// fakeHost is a machine with the given files and a /dev/net/tun of mode tun
// (0: none).
func fakeHost(files map[string]string, tun fs.FileMode) hostFacts {
	return hostFacts{
		readFile: func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		},
		stat: func(p string) (fs.FileInfo, error) {
			if p != tunDevice || tun == 0 {
				return nil, fs.ErrNotExist
			}
			return fakeFile{tun}, nil
		},
	}
}

type fakeFile struct{ mode fs.FileMode }

func (f fakeFile) Name() string       { return "tun" }
func (f fakeFile) Size() int64        { return 0 }
func (f fakeFile) Mode() fs.FileMode  { return f.mode }
func (f fakeFile) ModTime() time.Time { return time.Time{} }
func (f fakeFile) IsDir() bool        { return false }
func (f fakeFile) Sys() any           { return nil }

// A bounding set without CAP_SYS_RESOURCE (bit 24), on a kernel whose last
// capability is 40: this build machine.
var noSysResource = map[string]string{
	"/proc/self/status":                             "Name:\tx\nCapBnd:\t000001fffeffffff\n",
	"/proc/sys/kernel/cap_last_cap":                 "40\n",
	"/proc/sys/net/ipv4/ip_unprivileged_port_start": "1024\n",
}

func serviceInfo(rootless bool, cgroup string, controllers ...string) *define.Info {
	in := &define.Info{Host: &define.HostInfo{
		Arch: "amd64", OS: "linux", Kernel: "6.1", CgroupManager: "cgroupfs", CgroupsVersion: cgroup, CgroupControllers: controllers,
	}, Version: define.Version{Version: "4.3.1", APIVersion: "4.3.1"}}
	in.Host.Security.Rootless = rootless
	if rootless {
		in.Host.IDMappings.UIDMap = []idtools.IDMap{{ContainerID: 0, HostID: 1001, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
		in.Host.IDMappings.GIDMap = []idtools.IDMap{{ContainerID: 0, HostID: 1001, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
	}
	return in
}

var local = endpoint{uri: "unix:///run/podman/podman.sock", source: "rootful socket"}

func TestFactsRootful(t *testing.T) {
	f := factsFrom(serviceInfo(false, "v1", "memory"), local, fakeHost(noSysResource, fs.ModeCharDevice|0o600))
	info := f.info
	if info.Name != "podman" || info.Version != "4.3.1" || info.Endpoint != local.uri || info.CgroupVersion != 1 || info.Arch != "amd64" || info.Rootless {
		t.Errorf("info %+v", info)
	}
	if info.FullPrivileges || !slices.Equal(info.MissingCapabilities, []string{"CAP_SYS_RESOURCE"}) {
		t.Errorf("privileges: full %t, missing %v; want CAP_SYS_RESOURCE missing", info.FullPrivileges, info.MissingCapabilities)
	}
	// A rootful service refuses nothing a rootless one would.
	spec := backends.NodeSpec{Name: "n", MemoryLimit: 1 << 20, Ports: []backends.PortMapping{{HostPort: 80, ContainerPort: 80}}}
	if err := f.refuse(spec); err != nil {
		t.Errorf("rootful refuses %+v: %v", spec, err)
	}

	full := map[string]string{"/proc/self/status": "CapBnd:\t000001ffffffffff\n", "/proc/sys/kernel/cap_last_cap": "40\n"}
	if f := factsFrom(serviceInfo(false, "v2"), local, fakeHost(full, 0)); !f.info.FullPrivileges || len(f.info.MissingCapabilities) != 0 {
		t.Errorf("full bounding set: %+v", f.info)
	}
	remote := endpoint{uri: "ssh://core@h/run/podman/podman.sock", source: "CONTAINER_HOST"}
	if f := factsFrom(serviceInfo(false, "v2"), remote, fakeHost(full, 0)); f.info.FullPrivileges {
		t.Errorf("remote service: full privileges claimed without a way to tell")
	}
}

func TestFactsRootlessCgroupV1(t *testing.T) {
	f := factsFrom(serviceInfo(true, "v1"), local, fakeHost(noSysResource, fs.ModeCharDevice|0o666))
	if !f.info.Rootless || f.portStart != 1024 || f.missing != nil || f.noMemory == "" {
		t.Fatalf("facts %+v", f)
	}
	notes := strings.Join(f.info.Notes, "\n")
	for _, want := range []string{"uid 1001", "net.ipv4.ip_unprivileged_port_start", "cgroup v1"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes do not mention %q:\n%s", want, notes)
		}
	}

	for _, tc := range []struct {
		spec backends.NodeSpec
		want string // "" for no refusal
	}{
		{backends.NodeSpec{Ports: []backends.PortMapping{{HostPort: 8080, ContainerPort: 80}, {ContainerPort: 6443}}}, ""},
		{backends.NodeSpec{Ports: []backends.PortMapping{{HostPort: 80, ContainerPort: 80}}}, "sysctl net.ipv4.ip_unprivileged_port_start=80"},
		{backends.NodeSpec{MemoryLimit: 1 << 30}, "cgroup v1"},
	} {
		tc.spec.Name = "k3d-dev-serverlb"
		err := f.refuse(tc.spec)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("refuse %+v: %v", tc.spec, err)
		case tc.want != "" && (!errors.Is(err, backends.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.spec.Name)):
			t.Errorf("refuse %+v: %v, want ErrInvalid naming the node and saying %q", tc.spec, err, tc.want)
		}
	}
}

func TestFactsRootlessCgroupV2(t *testing.T) {
	delegated := factsFrom(serviceInfo(true, "v2", "cpu", "memory", "pids"), local, fakeHost(noSysResource, fs.ModeCharDevice|0o666))
	if delegated.noMemory != "" || delegated.info.CgroupVersion != 2 {
		t.Errorf("delegated cgroup v2: %+v", delegated)
	}
	if err := delegated.refuse(backends.NodeSpec{Name: "n", MemoryLimit: 1 << 30}); err != nil {
		t.Errorf("memory limit with the memory controller delegated: %v", err)
	}
	bare := factsFrom(serviceInfo(true, "v2", "cpu"), local, fakeHost(noSysResource, 0))
	if !strings.Contains(bare.noMemory, "not delegated") || !strings.Contains(strings.Join(bare.info.Notes, "\n"), "memory, pids") {
		t.Errorf("undelegated cgroup v2: %+v", bare)
	}
	wantTun := "podman: rootless Podman's networks (slirp4netns) need /dev/net/tun: /dev/net/tun is missing (create it as root: mkdir -p /dev/net && mknod /dev/net/tun c 10 200 && chmod 0666 /dev/net/tun)"
	if bare.missing == nil || bare.missing.Error() != wantTun {
		t.Errorf("no /dev/net/tun: got %v, want %q", bare.missing, wantTun)
	}
	if err := bare.refuse(backends.NodeSpec{Name: "n"}); !backends.IsPrerequisite(err) || !strings.Contains(err.Error(), "mknod") {
		t.Errorf("a node without /dev/net/tun: %v, want a prerequisite error saying how to make it", err)
	}
}

func TestTunProblem(t *testing.T) {
	for mode, ok := range map[fs.FileMode]bool{
		fs.ModeCharDevice | 0o666: true,
		fs.ModeCharDevice | 0o600: false, // root's only, and the fake has no owner
		0o666:                     false, // not a device
		0:                         false, // missing
	} {
		problem, fix := fakeHost(nil, mode).tunProblem(1001, 1001)
		if got := problem == ""; got != ok {
			t.Errorf("tun of mode %v usable: %t, want %t", mode, got, ok)
		}
		if !ok && !strings.Contains(fix, "as root") {
			t.Errorf("tun of mode %v: fix %q does not say what to run as root", mode, fix)
		}
	}
}

func TestFactsRootlessWithoutSubordinateIDs(t *testing.T) {
	in := serviceInfo(true, "v2", "cpu", "memory", "pids")
	in.Host.IDMappings.UIDMap = []idtools.IDMap{{ContainerID: 0, HostID: 1001, Size: 1}}
	in.Host.IDMappings.GIDMap = []idtools.IDMap{{ContainerID: 0, HostID: 1001, Size: 1}}
	f := factsFrom(in, local, fakeHost(noSysResource, fs.ModeCharDevice|0o666))
	want := "podman: rootless Podman of uid 1001 has no subordinate uid/gid ranges (1 uid(s), 1 gid(s) mapped) (as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER, then as USER: podman system migrate)"
	if f.missing == nil || f.missing.Error() != want {
		t.Fatalf("got %v, want %q", f.missing, want)
	}
	if ok := factsFrom(serviceInfo(true, "v2", "cpu", "memory", "pids"), local, fakeHost(noSysResource, fs.ModeCharDevice|0o666)); ok.missing != nil {
		t.Errorf("with 65536 subordinate ids: %v", ok.missing)
	}
}
