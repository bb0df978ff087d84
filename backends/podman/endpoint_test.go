package podman

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestResolveEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		euid    int
		want    endpoint
		wantErr bool
	}{
		{
			name: "CONTAINER_HOST wins, with its ssh key",
			env:  map[string]string{"CONTAINER_HOST": "ssh://core@10.0.0.5:2222/run/user/1000/podman/podman.sock", "CONTAINER_SSHKEY": "/home/u/.ssh/id", "XDG_RUNTIME_DIR": "/run/user/1000"},
			euid: 1000,
			want: endpoint{uri: "ssh://core@10.0.0.5:2222/run/user/1000/podman/podman.sock", source: "CONTAINER_HOST", identity: "/home/u/.ssh/id"},
		},
		{
			name: "root's socket for root",
			euid: 0,
			env:  map[string]string{"XDG_RUNTIME_DIR": "/run/user/0"},
			want: endpoint{uri: "unix:///run/podman/podman.sock", source: "rootful socket"},
		},
		{
			name: "the user's socket for a user",
			euid: 1000,
			env:  map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000/"},
			want: endpoint{uri: "unix:///run/user/1000/podman/podman.sock", source: "rootless socket"},
		},
		{
			name: "the user's socket without XDG_RUNTIME_DIR, where podman puts it",
			euid: 1234,
			want: endpoint{uri: "unix:///run/user/1234/podman/podman.sock", source: "rootless socket"},
		},
		{
			name:    "unsupported scheme",
			env:     map[string]string{"CONTAINER_HOST": "npipe:////./pipe/podman"},
			wantErr: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveEndpoint(func(k string) string { return tc.env[k] }, tc.euid)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("resolveEndpoint: %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("resolveEndpoint: %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEndpointHint(t *testing.T) {
	dial := errors.New("dial unix: connect: no such file or directory")
	for _, tc := range []struct {
		ep   endpoint
		err  error
		want string
	}{
		{endpoint{uri: "unix:///run/user/1000/podman/podman.sock", source: "rootless socket"}, dial, "systemctl --user start podman.socket"},
		{endpoint{uri: "unix:///run/user/1000/podman/podman.sock", source: "rootless socket"}, dial, "podman system service --time=0"},
		{endpoint{uri: "unix:///run/podman/podman.sock", source: "rootful socket"}, dial, "sudo systemctl start podman.socket"},
		{endpoint{uri: "unix:///tmp/p.sock", source: "CONTAINER_HOST"}, dial, "podman system service --time=0 unix:///tmp/p.sock"},
		{endpoint{uri: "unix:///run/podman/podman.sock", source: "rootful socket"}, os.ErrPermission, "access to the socket"},
		{endpoint{uri: "ssh://core@h:2222/run/podman/podman.sock", source: "CONTAINER_HOST"}, dial, "ssh -p 2222 core@h"},
	} {
		if got := tc.ep.hint(tc.err); !strings.Contains(got, tc.want) {
			t.Errorf("hint for %s (%v): %q, want it to say %q", tc.ep.uri, tc.err, got, tc.want)
		}
	}
}

func TestSocketPath(t *testing.T) {
	for uri, want := range map[string]string{
		"unix:///run/podman/podman.sock": "/run/podman/podman.sock",
		"unix://run/podman/podman.sock":  "/run/podman/podman.sock",
	} {
		if got := (endpoint{uri: uri}).socketPath(); got != want {
			t.Errorf("socket path of %s: %q, want %q", uri, got, want)
		}
	}
}
