package backends

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// machine is a made-up file system for discovery: the executable files on it.
func machine(exe string, exeErr error, path string, files ...string) lookup {
	set := map[string]bool{}
	for _, f := range files {
		set[f] = true
	}
	return lookup{
		executable:   func() (string, error) { return exe, exeErr },
		path:         path,
		isExecutable: func(p string) bool { return set[p] },
		glob: func(pattern string) ([]string, error) {
			var out []string
			for f := range set {
				if ok, _ := filepath.Match(pattern, f); ok {
					out = append(out, f)
				}
			}
			return out, nil
		},
	}
}

func TestFindBackend(t *testing.T) {
	for _, tc := range []struct {
		name    string
		l       lookup
		runtime string
		want    string
		wantErr string
	}{
		{"next to k3d wins over PATH",
			machine("/opt/k3d/bin/k3d", nil, "/usr/bin:/usr/local/bin", "/opt/k3d/bin/k3d-runtime-docker", "/usr/bin/k3d-runtime-docker"),
			"docker", "/opt/k3d/bin/k3d-runtime-docker", ""},
		{"PATH in order",
			machine("/opt/k3d/bin/k3d", nil, "/usr/local/bin:/usr/bin", "/usr/bin/k3d-runtime-podman", "/usr/local/bin/k3d-runtime-podman"),
			"podman", "/usr/local/bin/k3d-runtime-podman", ""},
		{"relative and empty PATH entries are skipped",
			machine("/opt/k3d/bin/k3d", nil, ":bin:.:/usr/bin", "bin/k3d-runtime-docker", "k3d-runtime-docker", "/usr/bin/k3d-runtime-docker"),
			"docker", "/usr/bin/k3d-runtime-docker", ""},
		{"missing says where it looked",
			machine("/x/bin/k3d", nil, "/usr/bin"),
			"podman", "", `no backend for runtime "podman": k3d-runtime-podman is not next to k3d (/x/bin) nor on PATH; build it with make build`},
		{"unknown executable still searches PATH",
			machine("", errors.New("no /proc"), "/usr/bin", "/usr/bin/k3d-runtime-containerd"),
			"containerd", "/usr/bin/k3d-runtime-containerd", ""},
		{"unknown executable, missing",
			machine("", errors.New("no /proc"), "/usr/bin"),
			"containerd", "", `no backend for runtime "containerd": k3d-runtime-containerd is not next to k3d (its directory is unknown) nor on PATH; build it with make build`},
		{"a name cannot leave the directory",
			machine("/x/bin/k3d", nil, "/usr/bin", "/x/k3d-runtime-evil"),
			"../evil", "", `runtime "../evil": invalid`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.l.find(tc.runtime)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("find(%q) = %q, %v; want error %q", tc.runtime, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("find(%q) = %q, %v; want %q", tc.runtime, got, err, tc.want)
			}
		})
	}
}

func TestMissingBackendIsTyped(t *testing.T) {
	_, err := machine("/x/bin/k3d", nil, "").find("podman")
	var missing *MissingBackendError
	if !errors.As(err, &missing) || missing.Runtime != "podman" || missing.ExeDir != "/x/bin" {
		t.Errorf("got %#v", err)
	}
}

func TestOpenOfAMissingBackendSaysWhereItLooked(t *testing.T) {
	_, err := Open(context.Background(), "no-such-runtime", OpenOptions{})
	want := `no backend for runtime "no-such-runtime": k3d-runtime-no-such-runtime is not next to k3d (`
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), ") nor on PATH; build it with make build") {
		t.Errorf("got %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("the message is more than one line: %q", err)
	}
}

func TestListBackends(t *testing.T) {
	l := machine("/opt/k3d/bin/k3d", nil, "/usr/local/bin:/usr/bin",
		"/opt/k3d/bin/k3d", "/opt/k3d/bin/k3d-runtime-docker",
		"/usr/local/bin/k3d-runtime-podman", "/usr/bin/k3d-runtime-docker", "/usr/bin/k3d-runtime-containerd",
		"/usr/bin/k3d-runtime-Bad Name")
	want := []FoundBackend{
		{Name: "containerd", Path: "/usr/bin/k3d-runtime-containerd"},
		{Name: "docker", Path: "/opt/k3d/bin/k3d-runtime-docker"},
		{Name: "podman", Path: "/usr/local/bin/k3d-runtime-podman"},
	}
	if got := l.list(); !reflect.DeepEqual(got, want) {
		t.Errorf("list() =\n %v\nwant\n %v", got, want)
	}
}

func TestHandshakeProtocol(t *testing.T) {
	for line, want := range map[string]int{"1|1|unix|/tmp/plugin123|grpc|": 1, "1|2|unix|/tmp/p|grpc|": 2} {
		if v, ok := handshakeProtocol(line); !ok || v != want {
			t.Errorf("handshakeProtocol(%q) = %d, %v", line, v, ok)
		}
	}
	for _, line := range []string{"", "hello", "a|b|c|d"} {
		if _, ok := handshakeProtocol(line); ok {
			t.Errorf("handshakeProtocol(%q) accepted a non-handshake", line)
		}
	}
}
