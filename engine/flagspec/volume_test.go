package flagspec

import (
	"strings"
	"testing"

	"github.com/k3d/k3d/engine/nodefilter"
)

func TestParseVolume(t *testing.T) {
	tests := []struct {
		in           string
		source, dest string
		named, ro    bool
		filters      string
	}{
		{"/data", "/data", "/data", false, false, ""},
		{"/data:ro", "/data", "/data", false, true, ""},
		{"/srv/cache:/var/cache", "/srv/cache", "/var/cache", false, false, ""},
		{"/srv/cfg:/etc/app:ro", "/srv/cfg", "/etc/app", false, true, ""},
		{"/srv/cfg:/etc/app:rw", "/srv/cfg", "/etc/app", false, false, ""},
		{"images:/var/lib/images", "images", "/var/lib/images", true, false, ""},
		{"k3d-dev-images:/k3d/images:ro", "k3d-dev-images", "/k3d/images", true, true, ""},
		{"/tmp:/tmp@agent:0;server:1", "/tmp", "/tmp", false, false, "agent:0;server:1"},
		{"/tmp/src:/src@all", "/tmp/src", "/src", false, false, "all"},
		{"/my/path@agent:0,1", "/my/path", "/my/path", false, false, "agent:0,1"},
		{"/tmp/test:/var/lib/rancher/k3s/server/manifests@server:0", "/tmp/test", "/var/lib/rancher/k3s/server/manifests", false, false, "server:0"},
		{`/home/me/mail\@box:/mail`, "/home/me/mail@box", "/mail", false, false, ""},
		{"/data:/data@workers[0,2-3]", "/data", "/data", false, false, "agent:0,2-3"},
	}
	for _, tt := range tests {
		v, err := ParseVolume(tt.in)
		if err != nil {
			t.Errorf("ParseVolume(%q): %v", tt.in, err)
			continue
		}
		if v.Source != tt.source || v.Dest != tt.dest || v.Named != tt.named || v.ReadOnly != tt.ro || nodefilter.Format(v.Filters) != tt.filters {
			t.Errorf("ParseVolume(%q) = %+v; want source %q dest %q named %v ro %v filters %q", tt.in, v, tt.source, tt.dest, tt.named, tt.ro, tt.filters)
		}
		back, err := ParseVolume(v.String())
		back.Spec = v.Spec
		if err != nil || back.String() != v.String() {
			t.Errorf("ParseVolume(%q.String() = %q) = %+v, %v", tt.in, v.String(), back, err)
		}
	}
}

func TestParseVolumeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `volume "": no volume given: write [SOURCE:]DEST[:ro|rw], e.g. /srv/data:/data`},
		{"@agent:0", `volume "@agent:0": no volume given`},
		{"data", `volume "data": "data" alone must be an absolute host path (mounted at the same path); for a named volume write NAME:/path/in/node`},
		{"./data:/data", `volume "./data:/data": source "./data" is a relative path: write an absolute one, e.g. $PWD/data`},
		{"data/sub:/data", `volume "data/sub:/data": source "data/sub" is a relative path: write an absolute one, e.g. $PWD/data/sub`},
		{"~/data:/data", `volume "~/data:/data": source "~/data" starts with '~', which is not expanded here: write the absolute path, e.g. $HOME/data`},
		{":/data", `volume ":/data": empty source before ':': write an absolute host path or a volume name, e.g. /srv/data:/data`},
		{"/src:", `volume "/src:": empty destination after ':': write the absolute path inside the node, e.g. /src:/data`},
		{"/src:data", `volume "/src:data": destination "data" is not an absolute path: write the path inside the node starting with '/', e.g. /src:/data`},
		{"vol:relative/path", `volume "vol:relative/path": destination "relative/path" is not an absolute path`},
		{"/src:/", `volume "/src:/": destination "/" would hide the node's whole filesystem: mount under a directory, e.g. /src:/data`},
		{"/src:/dst:", `volume "/src:/dst:": empty mode after the last ':': write ro or rw, or drop the ':'`},
		{"/src:/dst:rx", `volume "/src:/dst:rx": mode "rx" is not supported: write ro or rw (k3d does not pass other mount options such as z, shared or nocopy)`},
		{"/src:/dst:z", `mode "z" is not supported`},
		{"/src:/dst:rshared", `mode "rshared" is not supported`},
		{"/src:/dst:ro,z", `mode "ro,z" is not supported`},
		{"/a:/b:ro:x", `volume "/a:/b:ro:x": too many ':': write [SOURCE:]DEST[:ro|rw]; paths containing ':' cannot be mounted`},
		{`C:\data:/data`, `volume "C:\\data:/data": source "C" is neither an absolute host path nor a volume name`},
		{"v:/data", `volume "v:/data": source "v" is neither an absolute host path nor a volume name (letters, digits, '_', '.', '-'; at least 2 characters, starting with a letter or digit)`},
		{"-vol:/data", `source "-vol" is neither an absolute host path nor a volume name`},
		{"my vol:/data", `source "my vol" is neither an absolute host path nor a volume name`},
		{"/src:/dst@agent:0:direct", `volume "/src:/dst@agent:0:direct": suffix :direct in node filter "agent:0:direct" applies only to ports: write @agent:0`},
		{"/src:/dst@mail.com", `volume "/src:/dst@mail.com": node filter "mail.com": unknown node group "mail.com"`},
	}
	for _, tt := range tests {
		_, err := ParseVolume(tt.in)
		if err == nil {
			t.Errorf("ParseVolume(%q) succeeded, want error %q", tt.in, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseVolume(%q) error\n  %v\nwant\n  %s", tt.in, err, tt.want)
		}
	}
}

func TestControlCharacters(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{second(ParseVolume("00:\n")), `volume "00:\n": the volume contains a control character such as a line break: paths passed to k3d must be printable`},
		{second(ParsePort("::1:8\n:80")), `port "::1:8\n:80": the port spec contains a control character such as a line break: write [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`},
		{second(ParseEnv("A\x01=b", nil)), `env "A\x01=b": variable name "A\x01" contains a control character: write KEY=VALUE with a printable KEY`},
		{second(ParseLabel("k\tx=v")), `label "k\tx=v": label key "k\tx" contains whitespace: write KEY=VALUE with no spaces in KEY`},
	} {
		if c.err == nil || c.err.Error() != c.want {
			t.Errorf("got %v\nwant %s", c.err, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }
