package conformance

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

// testExec: stdin is piped in and closed at its end, stdout and stderr stay
// apart, the exit code comes back, env, working directory and user apply, a
// command that cannot start is ErrInvalid, and a node that does not run is
// ErrNotRunning.
func testExec(t *testing.T, f *fixture) {
	name := f.name("node")
	idle := f.name("idle")
	f.runNode(backends.NodeSpec{Name: name})
	f.createNode(backends.NodeSpec{Name: idle})

	// A megabyte through stdin and back: more than any pipe buffer, so the
	// streams must really flow both ways at once.
	in := make([]byte, 1<<20)
	_, _ = rand.Read(in)
	var out, errOut bytes.Buffer
	code, err := f.rt.Exec(f.ctx, name, backends.ExecSpec{
		Cmd:    []string{"/testprog", "echo", "-err", "to stderr", "-exit", "3"},
		Stdin:  bytes.NewReader(in),
		Stdout: &out,
		Stderr: &errOut,
	})
	if err != nil {
		t.Fatalf("exec echo in %s: %v", name, err)
	}
	if code != 3 {
		t.Errorf("exec echo -exit 3: exit code %d", code)
	}
	if !bytes.Equal(out.Bytes(), in) {
		t.Errorf("exec echo: stdout has %d bytes, want the %d bytes of stdin back unchanged", out.Len(), len(in))
	}
	if errOut.String() != "to stderr" {
		t.Errorf("exec echo: stderr %q, want %q alone", errOut.String(), "to stderr")
	}

	// No stdin at all: the command sees EOF at once instead of hanging.
	if r := f.exec(name, nil, "echo"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("exec echo without stdin: %s, want exit 0 and no output", r)
	}
	if r := f.exec(name, nil, "exit", "0"); r.code != 0 {
		t.Errorf("exec exit 0: %s", r)
	}
	if r := f.exec(name, nil, "exit", "42"); r.code != 42 {
		t.Errorf("exec exit 42: %s", r)
	}

	out.Reset()
	code, err = f.rt.Exec(f.ctx, name, backends.ExecSpec{
		Cmd:     []string{"/testprog", "env"},
		Env:     []string{"K3D_CONF_EXEC=yes please"},
		WorkDir: "/tmp",
		Stdout:  &out,
	})
	if err != nil || code != 0 || !strings.Contains(out.String(), "K3D_CONF_EXEC=yes please\n") || !strings.Contains(out.String(), "K3D_CONFORMANCE_IMAGE=1\n") {
		t.Errorf("exec env with extra env: exit %d, %v, output %q; want the extra and the image's variables", code, err, out.String())
	}
	out.Reset()
	code, err = f.rt.Exec(f.ctx, name, backends.ExecSpec{Cmd: []string{"/testprog", "pwd"}, WorkDir: "/tmp", Stdout: &out})
	if err != nil || code != 0 || strings.TrimSpace(out.String()) != "/tmp" {
		t.Errorf("exec pwd in /tmp: exit %d, %v, output %q", code, err, out.String())
	}
	out.Reset()
	code, err = f.rt.Exec(f.ctx, name, backends.ExecSpec{Cmd: []string{"/testprog", "id"}, User: "4321:4321", Stdout: &out})
	if err != nil || code != 0 || strings.TrimSpace(out.String()) != "4321:4321" {
		t.Errorf("exec id as 4321:4321: exit %d, %v, output %q", code, err, out.String())
	}
	if out := strings.TrimSpace(f.run(name, "id")); out != "0:0" {
		t.Errorf("exec id with the image's user: %q, want 0:0", out)
	}

	_, err = f.rt.Exec(f.ctx, name, backends.ExecSpec{Cmd: []string{"/no/such/program"}})
	wantKind(t, "exec a program that does not exist", err, backends.ErrInvalid)

	_, err = f.rt.Exec(f.ctx, idle, backends.ExecSpec{Cmd: []string{"/testprog", "out", "x"}})
	wantKind(t, "exec in a node never started", err, backends.ErrNotRunning)
	f.stop(name)
	_, err = f.rt.Exec(f.ctx, name, backends.ExecSpec{Cmd: []string{"/testprog", "out", "x"}})
	wantKind(t, "exec in a stopped node", err, backends.ErrNotRunning)
	if err != nil && !strings.Contains(err.Error(), name) {
		t.Errorf("exec in a stopped node: error %q does not name node %s", err, name)
	}
	_, err = f.rt.Exec(f.ctx, f.name("missing"), backends.ExecSpec{Cmd: []string{"/testprog", "out", "x"}})
	wantKind(t, "exec in a missing node", err, backends.ErrNotFound)
}
