package conformance

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

// readFile returns a file's contents through ReadFile.
func (f *fixture) readFile(node, path string) ([]byte, error) {
	rc, err := f.rt.ReadFile(f.ctx, node, path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// testFiles: a tar stream copied into a node (before it starts and while it
// runs) keeps contents, modes and ownership; ReadFile gives back exactly the
// contents, also of a stopped node and of a large file; a missing file is
// ErrNotFound.
func testFiles(t *testing.T, f *fixture) {
	name := f.name("node")
	f.createNode(backends.NodeSpec{Name: name})

	config := []byte("server: https://k3d-dev-server-0:6443\ntoken: s3cr3t\n")
	err := f.rt.CopyToNode(f.ctx, name, "/conf", tarOf(t,
		tarEntry{name: "etc/", dir: true, mode: 0o750, uid: 1234, gid: 5678},
		tarEntry{name: "etc/config.yaml", mode: 0o640, uid: 1234, gid: 5678, data: config},
		tarEntry{name: "etc/run", mode: 0o755, data: f.s.binary},
	))
	if err != nil {
		t.Fatalf("copy files into created node %s: %v", name, err)
	}
	f.start(name)
	f.waitRunning(name)

	for path, want := range map[string]string{
		"/conf/etc":             "0750 1234:5678",
		"/conf/etc/config.yaml": "0640 1234:5678",
		"/conf/etc/run":         "0755 0:0",
	} {
		if got := strings.TrimSpace(f.run(name, "stat", path)); got != want {
			t.Errorf("copied %s in %s: mode and owner %q, want %q", path, name, got, want)
		}
	}
	if got, err := f.readFile(name, "/conf/etc/config.yaml"); err != nil || !bytes.Equal(got, config) {
		t.Errorf("read back /conf/etc/config.yaml from %s: %q, %v; want exactly %q", name, got, err, config)
	}
	var out strings.Builder
	code, err := f.rt.Exec(f.ctx, name, backends.ExecSpec{Cmd: []string{"/conf/etc/run", "out", "copied and run"}, Stdout: &out})
	if err != nil || code != 0 || strings.TrimSpace(out.String()) != "copied and run" {
		t.Errorf("run the copied executable in %s: exit %d, %v, %q", name, code, err, out.String())
	}

	// Into a node that runs as a user the host need not know (k3d's load
	// balancer runs as 65534:65534): owners still come from the tar.
	nobody := f.name("nobody")
	f.createNode(backends.NodeSpec{Name: nobody, User: "65534:65534"})
	lbConfig := []byte(`{"listeners":[]}`)
	err = f.rt.CopyToNode(f.ctx, nobody, "/", tarOf(t,
		tarEntry{name: "k3d/", dir: true, mode: 0o755, uid: 65534, gid: 65534},
		tarEntry{name: "k3d/loadbalancer.json", mode: 0o644, data: lbConfig},
	))
	if err != nil {
		t.Fatalf("copy files into node %s running as 65534:65534: %v", nobody, err)
	}
	if got, err := f.readFile(nobody, "/k3d/loadbalancer.json"); err != nil || !bytes.Equal(got, lbConfig) {
		t.Errorf("read back /k3d/loadbalancer.json from %s: %q, %v", nobody, got, err)
	}

	// Into a running node, replacing a file.
	err = f.rt.CopyToNode(f.ctx, name, "/conf", tarOf(t, tarEntry{name: "etc/config.yaml", mode: 0o600, data: []byte("replaced\n")}))
	if err != nil {
		t.Fatalf("copy a file into running node %s: %v", name, err)
	}
	if got := f.run(name, "cat", "/conf/etc/config.yaml"); got != "replaced\n" {
		t.Errorf("file replaced in running node %s reads %q", name, got)
	}

	f.stop(name)
	if got, err := f.readFile(name, "/conf/etc/config.yaml"); err != nil || string(got) != "replaced\n" {
		t.Errorf("read a file from stopped node %s: %q, %v", name, got, err)
	}
	if got, err := f.readFile(name, "/testprog"); err != nil || !bytes.Equal(got, f.s.binary) {
		t.Errorf("read the %d-byte /testprog from %s: %d bytes, %v; want it unchanged", len(f.s.binary), name, len(got), err)
	}
	_, err = f.readFile(name, "/conf/etc/missing.yaml")
	wantKind(t, "read a missing file", err, backends.ErrNotFound)
	if err != nil && !strings.Contains(err.Error(), "/conf/etc/missing.yaml") {
		t.Errorf("read a missing file: error %q does not name the file", err)
	}
	_, err = f.readFile(f.name("missing"), "/testprog")
	wantKind(t, "read a file from a missing node", err, backends.ErrNotFound)
}
