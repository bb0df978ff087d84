package docker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

func TestResolveEndpoint(t *testing.T) {
	ctxDir := func(name string) string {
		sum := sha256.Sum256([]byte(name))
		return "/home/u/.docker/contexts/meta/" + hex.EncodeToString(sum[:]) + "/meta.json"
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		files   map[string]string
		want    endpoint
		wantErr bool
	}{
		{
			name: "DOCKER_HOST wins",
			env:  map[string]string{"DOCKER_HOST": "tcp://10.0.0.1:2376", "DOCKER_CONTEXT": "other"},
			want: endpoint{host: "tcp://10.0.0.1:2376", source: "DOCKER_HOST"},
		},
		{
			name:  "default socket",
			env:   map[string]string{"HOME": "/home/u"},
			files: map[string]string{"/var/run/docker.sock": ""},
			want:  endpoint{host: "unix:///var/run/docker.sock", source: "default socket"},
		},
		{
			name: "default socket even when missing, so the error names it",
			env:  map[string]string{"HOME": "/home/u"},
			want: endpoint{host: "unix:///var/run/docker.sock", source: "default socket"},
		},
		{
			name:  "rootless socket when only it exists",
			env:   map[string]string{"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000"},
			files: map[string]string{"/run/user/1000/docker.sock": ""},
			want:  endpoint{host: "unix:///run/user/1000/docker.sock", source: "rootless socket"},
		},
		{
			name: "current context from the CLI config",
			env:  map[string]string{"HOME": "/home/u"},
			files: map[string]string{
				"/home/u/.docker/config.json": `{"currentContext":"colima"}`,
				ctxDir("colima"):              `{"Name":"colima","Endpoints":{"docker":{"Host":"unix:///home/u/.colima/docker.sock"}}}`,
			},
			want: endpoint{host: "unix:///home/u/.colima/docker.sock", source: `docker context "colima"`},
		},
		{
			name: "DOCKER_CONTEXT over the config",
			env:  map[string]string{"HOME": "/home/u", "DOCKER_CONTEXT": "remote"},
			files: map[string]string{
				"/home/u/.docker/config.json": `{"currentContext":"colima"}`,
				ctxDir("remote"):              `{"Name":"remote","Endpoints":{"docker":{"Host":"ssh://me@box"}}}`,
			},
			want: endpoint{host: "ssh://me@box", source: `docker context "remote"`},
		},
		{
			name:  "default context",
			env:   map[string]string{"HOME": "/home/u", "DOCKER_CONTEXT": "default"},
			files: map[string]string{"/var/run/docker.sock": ""},
			want:  endpoint{host: "unix:///var/run/docker.sock", source: "default socket"},
		},
		{
			name:    "unknown context",
			env:     map[string]string{"HOME": "/home/u", "DOCKER_CONTEXT": "gone"},
			wantErr: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hostFiles{
				getenv: func(k string) string { return tc.env[k] },
				readFile: func(p string) ([]byte, error) {
					if s, ok := tc.files[p]; ok {
						return []byte(s), nil
					}
					return nil, fs.ErrNotExist
				},
				exists: func(p string) bool { _, ok := tc.files[p]; return ok },
			}
			got, err := resolveEndpointFrom(h)
			if tc.wantErr {
				if err == nil {
					t.Errorf("got %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// An absent daemon gives the contract's UnreachableError, saying where it
// was looked for and how to start it, from every call.
func TestUnreachable(t *testing.T) {
	for _, host := range []string{"unix://" + filepath.Join(t.TempDir(), "docker.sock"), "tcp://127.0.0.1:1"} {
		t.Run(host, func(t *testing.T) {
			rt, err := New(Options{Getenv: func(k string) string {
				if k == "DOCKER_HOST" {
					return host
				}
				return ""
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = rt.Info(ctx)
			var ue *backends.UnreachableError
			if !errors.As(err, &ue) || !backends.IsUnreachable(err) {
				t.Fatalf("Info = %v (%T), want *backends.UnreachableError", err, err)
			}
			if ue.Runtime != "docker" || ue.Endpoint != host || ue.Hint == "" || ue.Detail == "" {
				t.Errorf("unreachable error = %+v", ue)
			}
			_, err = rt.CreateNetwork(ctx, backends.NetworkSpec{Name: "k3d-unreachable"})
			if !backends.IsUnreachable(err) {
				t.Errorf("CreateNetwork = %v, want unreachable", err)
			}
			if _, err := rt.ImageExists(ctx, "foo"); !backends.IsUnreachable(err) {
				t.Errorf("ImageExists = %v, want unreachable", err)
			}
		})
	}
}

// fakeSSH puts an `ssh` on PATH that records its arguments and runs the
// remote command locally, so an ssh:// endpoint reaches the local daemon
// through `docker system dial-stdio`, as it would a remote one.
func fakeSSH(t *testing.T, script string) string {
	t.Helper()
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	if err := os.WriteFile(filepath.Join(dir, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_SSH_ARGS", argsFile)
	return argsFile
}

func sshRuntime(t *testing.T, host string) *Runtime {
	t.Helper()
	rt, err := New(Options{Report: &syncBuffer{}, Getenv: func(k string) string {
		if k == "DOCKER_HOST" {
			return host
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func TestSSHEndpoint(t *testing.T) {
	_, ctx := needDaemon(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("needs the docker CLI for `docker system dial-stdio` on the far side of the fake ssh")
	}
	if suite.rt.endpoint.scheme() != "unix" {
		t.Skip("the fake ssh's far side talks to the default local daemon")
	}
	argsFile := fakeSSH(t, `#!/bin/sh
printf '%s\n' "$@" > "$FAKE_SSH_ARGS"
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
shift 2 # "--" and the host; the remote command follows, for a shell
DOCKER_HOST= exec sh -c "$*"
`)
	host := "ssh://tester@fakehost:2222"
	rt := sshRuntime(t, host)
	info, err := rt.Info(ctx)
	if err != nil {
		t.Fatalf("Info over ssh: %v", err)
	}
	if info.Endpoint != host || info.Version == "" {
		t.Errorf("Info over ssh = %+v", info)
	}
	args, _ := os.ReadFile(argsFile)
	for _, want := range []string{"-l\ntester\n", "-p\n2222\n", "--\nfakehost\ndocker system dial-stdio\n"} {
		if !strings.Contains(string(args), want) {
			t.Errorf("ssh was run with %q, want %q among its arguments", args, want)
		}
	}

	// Exec hijacks the connection and half-closes it: that must work over
	// the ssh pipe too.
	spec := nodeSpec(t, "ssh")
	if _, err := rt.CreateNode(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupNode(spec.Name) })
	if err := rt.StartNode(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code, err := rt.Exec(ctx, spec.Name, backends.ExecSpec{Cmd: []string{"cat"}, Stdin: strings.NewReader("over ssh"), Stdout: &out})
	if err != nil || code != 0 || out.String() != "over ssh" {
		t.Errorf("exec over ssh: %d %v %q", code, err, out.String())
	}
}

func TestSSHUnreachable(t *testing.T) {
	fakeSSH(t, "#!/bin/sh\necho 'ssh: connect to host fakehost port 22: Connection refused' >&2\nexit 255\n")
	rt := sshRuntime(t, "ssh://me@fakehost:2200")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := rt.Info(ctx)
	var ue *backends.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("Info = %v, want unreachable", err)
	}
	if ue.Endpoint != "ssh://me@fakehost:2200" || !strings.Contains(ue.Hint, "ssh -p 2200 me@fakehost docker system dial-stdio") {
		t.Errorf("unreachable error = %+v", ue)
	}
}
