package flagspec

import (
	"strings"
	"testing"
)

// FuzzParsePort: ParsePort never panics, its errors are one line, and every mapping it
// returns is valid and reads back from its String.
func FuzzParsePort(f *testing.F) {
	for _, s := range []string{"80", "8080:80", "127.0.0.1:8080:80/udp", "[::1]:8080:80", "[::1]::80",
		"8080-8082:80-82", "80-82", "0.0.0.0:8080:8081/tcp@workers", "80@workers[0,2-3]",
		"80@k3d-test-master-0@workers[1-5]", "8080:80@agent:0:direct", "::1:80", "[", "]:", "/", "@", "1-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePort(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("ParsePort(%q) error spans lines: %q", s, err)
			}
			return
		}
		if len(p.Mappings) == 0 || len(p.Mappings) > maxPortsPerSpec {
			t.Fatalf("ParsePort(%q) gave %d mappings", s, len(p.Mappings))
		}
		for _, m := range p.Mappings {
			if m.ContainerPort == 0 || (m.Protocol != "tcp" && m.Protocol != "udp") {
				t.Fatalf("ParsePort(%q) gave invalid mapping %+v", s, m)
			}
			back, err := ParsePortMappings(m.String())
			if err != nil || len(back) != 1 || back[0] != m {
				t.Fatalf("ParsePort(%q): mapping %+v written as %q reads back as %+v, %v", s, m, m.String(), back, err)
			}
		}
		_, _ = p.Targets(cluster(2, 2, true))
		_, _ = p.Targets(cluster(1, 0, false))
	})
}

// FuzzParseVolume: ParseVolume never panics, and what it accepts reads back from String.
func FuzzParseVolume(f *testing.F) {
	for _, s := range []string{"/data", "/data:ro", "/a:/b", "/a:/b:rw", "vol:/b:ro", "/tmp:/tmp@agent:0;server:1",
		`/x\@y:/z`, "./a:/b", "~/a:/b", ":/b", "/a:", "/a:/", "a:b:c:d", `\\@all`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVolume(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("ParseVolume(%q) error spans lines: %q", s, err)
			}
			return
		}
		if !strings.HasPrefix(v.Dest, "/") || v.Source == "" || (!v.Named && !strings.HasPrefix(v.Source, "/")) {
			t.Fatalf("ParseVolume(%q) accepted %+v", s, v)
		}
		back, err := ParseVolume(v.String())
		if err != nil {
			t.Fatalf("ParseVolume(%q) ok, but ParseVolume(String = %q): %v", s, v.String(), err)
		}
		if back.Source != v.Source || back.Dest != v.Dest || back.ReadOnly != v.ReadOnly || back.Named != v.Named || back.String() != v.String() {
			t.Fatalf("round trip of %q via %q: %+v, want %+v", s, v.String(), back, v)
		}
		_, _ = v.Targets(cluster(2, 2, true))
	})
}
