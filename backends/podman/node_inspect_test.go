package podman

import (
	"encoding/json"
	"github.com/k3d/k3d/backends/internal/imagelabels"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/containers/podman/v4/libpod/define"

	"github.com/k3d/k3d/backends"
)

// inspectJSON is (the parts k3d reads of) what Podman 4.3 answers for a
// running node created by this backend.
const inspectJSON = `{
  "Id": "3449845b68ce84f563358c265797e4111c3229f3b445f4aa2ff2346acf8e9682",
  "Created": "2026-11-25T09:30:00.5Z",
  "Path": "/bin/k3s",
  "Args": ["server", "--tls-san", "0.0.0.0"],
  "State": {"Status": "running", "Running": true, "ExitCode": 0, "StartedAt": "2026-11-25T09:30:01Z", "FinishedAt": "0001-01-01T00:00:00Z"},
  "ImageName": "docker.io/rancher/k3s:v1.36.1-k3s1",
  "Name": "k3d-dev-server-0",
  "RestartCount": 2,
  "Mounts": [
    {"Type": "volume", "Name": "k3d-dev-images", "Source": "/var/lib/containers/storage/volumes/k3d-dev-images/_data", "Destination": "/k3d/images", "RW": true},
    {"Type": "bind", "Source": "/home/me/m", "Destination": "/m", "RW": false}
  ],
  "NetworkSettings": {
    "Ports": {"6443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "41283"}], "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]},
    "Networks": {"k3d-dev": {"IPAddress": "10.89.0.2", "Aliases": ["3449845b68ce", "server", "k3d-dev-server-0"]}}
  },
  "Config": {
    "Hostname": "k3d-dev-server-0",
    "Env": ["K3S_TOKEN=t", "container=podman"],
    "Labels": {"app": "k3d", "k3d.role": "server", "org.opencontainers.image.version": "v1.36", "k3d.runtime.image-labels": "[\"org.opencontainers.image.version\"]"}
  },
  "HostConfig": {
    "Privileged": true,
    "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
    "Memory": 1073741824,
    "PortBindings": {"6443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "0"}], "80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
    "Tmpfs": {"/run": "rw,rprivate,nosuid,nodev,tmpcopyup,size=64m", "/var/run": "rw,rprivate,nosuid,nodev,tmpcopyup"}
  }
}`

func TestNodeFrom(t *testing.T) {
	var c define.InspectContainerData
	if err := json.Unmarshal([]byte(inspectJSON), &c); err != nil {
		t.Fatal(err)
	}
	n := nodeFrom(&c)
	if n.Name != "k3d-dev-server-0" || n.Hostname != "k3d-dev-server-0" || n.Image != "docker.io/rancher/k3s:v1.36.1-k3s1" {
		t.Errorf("name %q hostname %q image %q", n.Name, n.Hostname, n.Image)
	}
	if want := []string{"/bin/k3s", "server", "--tls-san", "0.0.0.0"}; !slices.Equal(n.Cmd, want) {
		t.Errorf("cmd %q, want %q", n.Cmd, want)
	}
	if want := map[string]string{"app": "k3d", "k3d.role": "server", imagelabels.Key: `["org.opencontainers.image.version"]`}; !maps.Equal(n.Labels, want) {
		t.Errorf("labels %v, want %v (the image's hidden)", n.Labels, want)
	}
	wantState := backends.NodeState{Status: backends.StatusRunning, Running: true, StartedAt: time.Date(2026, 11, 25, 9, 30, 1, 0, time.UTC), RestartCount: 2}
	if n.State != wantState {
		t.Errorf("state %+v, want %+v", n.State, wantState)
	}
	if !n.Privileged || n.RestartPolicy != backends.RestartUnlessStopped || n.MemoryLimit != 1<<30 {
		t.Errorf("privileged %t restart %q memory %d", n.Privileged, n.RestartPolicy, n.MemoryLimit)
	}
	wantPorts := []backends.PortMapping{
		{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		{HostIP: "127.0.0.1", HostPort: 41283, ContainerPort: 6443, Protocol: "tcp"},
	}
	if !slices.Equal(n.Ports, wantPorts) {
		t.Errorf("ports %+v, want %+v (as published, all addresses as \"\")", n.Ports, wantPorts)
	}
	wantMounts := []backends.Mount{
		{Type: backends.MountVolume, Source: "k3d-dev-images", Target: "/k3d/images"},
		{Type: backends.MountBind, Source: "/home/me/m", Target: "/m", ReadOnly: true},
		{Type: backends.MountTmpfs, Target: "/run", TmpfsSize: 64 << 20},
		{Type: backends.MountTmpfs, Target: "/var/run"},
	}
	if !slices.Equal(n.Mounts, wantMounts) {
		t.Errorf("mounts %+v, want %+v", n.Mounts, wantMounts)
	}
	if len(n.Networks) != 1 || n.Networks[0].Network != "k3d-dev" || n.Networks[0].IPv4 != "10.89.0.2" || !slices.Equal(n.Networks[0].Aliases, []string{"server"}) {
		t.Errorf("networks %+v, want k3d-dev at 10.89.0.2 with only the given alias", n.Networks)
	}

	c.State.Running, c.State.Status = false, "exited"
	if n := nodeFrom(&c); n.Ports[1].HostPort != 0 || n.State.Status != backends.StatusExited {
		t.Errorf("stopped node: ports %+v, status %q; want the configured ports and exited", n.Ports, n.State.Status)
	}
}

func TestStatusFrom(t *testing.T) {
	for s, want := range map[string]backends.NodeStatus{
		"configured": backends.StatusCreated, "created": backends.StatusCreated, "running": backends.StatusRunning,
		"stopping": backends.StatusRunning, "paused": backends.StatusPaused, "exited": backends.StatusExited,
		"stopped": backends.StatusExited, "": backends.StatusUnknown,
	} {
		if got := statusFrom(s); got != want {
			t.Errorf("status %q: %q, want %q", s, got, want)
		}
	}
}
