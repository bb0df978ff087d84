package containerd

import (
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/k3d/k3d/backends"
)

// Entrypoint and command combine as with Docker: an entrypoint given drops
// the image's command.
func TestNodeArgs(t *testing.T) {
	img := ocispec.ImageConfig{Entrypoint: []string{"/bin/k3s"}, Cmd: []string{"agent"}}
	for _, c := range []struct {
		spec backends.NodeSpec
		want []string
	}{
		{backends.NodeSpec{}, []string{"/bin/k3s", "agent"}},
		{backends.NodeSpec{Cmd: []string{"server", "--tls-san", "x"}}, []string{"/bin/k3s", "server", "--tls-san", "x"}},
		{backends.NodeSpec{Entrypoint: []string{"/sh"}}, []string{"/sh"}},
		{backends.NodeSpec{Entrypoint: []string{"/sh"}, Cmd: []string{"-c", "true"}}, []string{"/sh", "-c", "true"}},
	} {
		if got := nodeArgs(c.spec, img); !slices.Equal(got, c.want) {
			t.Errorf("args of %+v: %q, want %q", c.spec, got, c.want)
		}
	}
}

// The image's VOLUMEs become anonymous volumes under the node's directory,
// unless the spec mounts something there.
func TestAnonVolumes(t *testing.T) {
	img := ocispec.ImageConfig{Volumes: map[string]struct{}{"/var/lib/rancher/k3s": {}, "/var/log/": {}, "/var/lib/kubelet": {}}}
	got := anonVolumes("/data/nodes/n", img, []backends.Mount{{Type: backends.MountVolume, Source: "v", Target: "/var/lib/kubelet"}})
	var targets []string
	for _, a := range got {
		targets = append(targets, a.target)
		if !slices.Contains([]string{"/data/nodes/n/volumes"}, a.source[:len("/data/nodes/n/volumes")]) {
			t.Errorf("anonymous volume %s at %s, not under the node's directory", a.target, a.source)
		}
	}
	if want := []string{"/var/lib/rancher/k3s", "/var/log"}; !slices.Equal(targets, want) {
		t.Errorf("anonymous volumes at %q, want %q", targets, want)
	}
	if got[0].source == got[1].source {
		t.Errorf("two anonymous volumes share %s", got[0].source)
	}
}

func TestCheckSpec(t *testing.T) {
	ok := backends.NodeSpec{Name: "k3d-dev-server-0", Image: "rancher/k3s:v1.36.0-k3s1"}
	if err := checkSpec(ok); err != nil {
		t.Fatal(err)
	}
	for what, mod := range map[string]func(*backends.NodeSpec){
		"no name":           func(s *backends.NodeSpec) { s.Name = "" },
		"name with a slash": func(s *backends.NodeSpec) { s.Name = "a/b" },
		"no image":          func(s *backends.NodeSpec) { s.Image = "" },
		"negative memory":   func(s *backends.NodeSpec) { s.MemoryLimit = -1 },
		"unknown policy":    func(s *backends.NodeSpec) { s.RestartPolicy = "sometimes" },
		"network twice":     func(s *backends.NodeSpec) { s.Networks = []backends.NetworkAttachment{{Network: "a"}, {Network: "a"}} },
		"bad static IP": func(s *backends.NodeSpec) {
			s.Networks = []backends.NetworkAttachment{{Network: "a", IPv4: "10.0.0.300"}}
		},
		"relative target": func(s *backends.NodeSpec) { s.Mounts = []backends.Mount{{Type: backends.MountTmpfs, Target: "run"}} },
		"relative bind": func(s *backends.NodeSpec) {
			s.Mounts = []backends.Mount{{Type: backends.MountBind, Source: "src", Target: "/x"}}
		},
		"volume name ../x": func(s *backends.NodeSpec) {
			s.Mounts = []backends.Mount{{Type: backends.MountVolume, Source: "../x", Target: "/x"}}
		},
		"half a host entry": func(s *backends.NodeSpec) { s.ExtraHosts = []backends.HostEntry{{Hostname: "x"}} },
	} {
		spec := ok
		mod(&spec)
		if err := checkSpec(spec); !backends.IsInvalid(err) {
			t.Errorf("%s: %v, want invalid", what, err)
		}
	}
}
