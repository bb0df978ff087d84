package conformance

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// testNodeLifecycle: create → start → stop → start → delete, with the state
// and the spec as inspect reports them at each step.
func testNodeLifecycle(t *testing.T, f *fixture) {
	name := f.name("node")
	before := time.Now()
	created := f.createNode(backends.NodeSpec{
		Name:          name,
		Env:           []string{"K3D_CONF_A=1", "K3D_CONF_B=two words"},
		Labels:        map[string]string{"k3d.role": "server"},
		RestartPolicy: backends.RestartUnlessStopped,
	})
	if created.Name != name || created.ID == "" {
		t.Errorf("create node %s returned name %q ID %q", name, created.Name, created.ID)
	}

	n := f.inspect(name)
	if n.State.Status != backends.StatusCreated || n.State.Running {
		t.Errorf("new node %s: state %+v, want created and not running", name, n.State)
	}
	if n.Name != name || n.ID != created.ID {
		t.Errorf("inspect node %s: name %q ID %q, want ID %q", name, n.Name, n.ID, created.ID)
	}
	if n.Hostname != name {
		t.Errorf("node %s: hostname %q, want the node name by default", name, n.Hostname)
	}
	if !sameRef(n.Image, f.s.image) {
		t.Errorf("node %s: image %q, want %q", name, n.Image, f.s.image)
	}
	for _, kv := range []string{"K3D_CONF_A=1", "K3D_CONF_B=two words"} {
		if !slices.Contains(n.Env, kv) {
			t.Errorf("node %s: env %q lacks %q", name, n.Env, kv)
		}
	}
	if want := []string{"/testprog", "sleep"}; !slices.Equal(n.Cmd, want) {
		t.Errorf("node %s: command %q, want the image's entrypoint and cmd %q", name, n.Cmd, want)
	}
	if n.RestartPolicy != backends.RestartUnlessStopped {
		t.Errorf("node %s: restart policy %q, want %q", name, n.RestartPolicy, backends.RestartUnlessStopped)
	}
	if n.Created.Before(before.Add(-time.Minute)) || n.Created.After(time.Now().Add(time.Minute)) {
		t.Errorf("node %s: created at %s, want about %s", name, n.Created, before)
	}
	wantLabels(t, "inspect node "+name, n.Labels, f.withLabels(map[string]string{"k3d.role": "server"}))

	listed, err := f.rt.ListNodes(f.ctx, f.selector())
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	if got := nodeNames(listed); !slices.Equal(got, []string{name}) {
		t.Fatalf("list nodes of the subtest: %q, want only %s", got, name)
	}
	if listed[0].State.Status != backends.StatusCreated {
		t.Errorf("list nodes: %s is %q, want created", name, listed[0].State.Status)
	}

	f.start(name)
	n = f.waitRunning(name)
	if n.State.StartedAt.IsZero() {
		t.Errorf("running node %s has no start time: %+v", name, n.State)
	}
	if out := strings.TrimSpace(f.run(name, "hostname")); out != name {
		t.Errorf("hostname inside node %s: %q", name, out)
	}
	if err := f.rt.StartNode(f.ctx, name); err != nil {
		t.Errorf("start the running node %s: %v; want no error", name, err)
	}

	// The test program exits 0 on SIGTERM only: exit code 0 proves the stop
	// asked politely instead of killing.
	f.stop(name)
	n = f.inspect(name)
	if n.State.Running || n.State.Status != backends.StatusExited || n.State.ExitCode != 0 {
		t.Errorf("stopped node %s: state %+v, want exited with code 0 after SIGTERM", name, n.State)
	}
	if n.State.FinishedAt.Before(n.State.StartedAt) {
		t.Errorf("stopped node %s: finished at %s, before it started at %s", name, n.State.FinishedAt, n.State.StartedAt)
	}
	if err := f.rt.StopNode(f.ctx, name, 10*time.Second); err != nil {
		t.Errorf("stop the stopped node %s: %v; want no error", name, err)
	}
	listed, err = f.rt.ListNodes(f.ctx, f.selector())
	if err != nil || len(listed) != 1 || listed[0].State.Running {
		t.Errorf("list nodes after stop: %+v, %v; want %s, not running", listed, err, name)
	}

	f.start(name)
	n = f.waitRunning(name)
	if n.State.RestartCount != 0 {
		t.Errorf("node %s started by hand: restart count %d, want 0 (no policy restarts happened)", name, n.State.RestartCount)
	}
	if out := f.run(name, "out", "alive"); strings.TrimSpace(out) != "alive" {
		t.Errorf("exec in restarted node %s: %q", name, out)
	}

	if err := f.rt.DeleteNode(f.ctx, name); err != nil {
		t.Fatalf("delete running node %s: %v", name, err)
	}
	_, err = f.rt.InspectNode(f.ctx, name)
	wantKind(t, "inspect deleted node", err, backends.ErrNotFound)
	err = f.rt.DeleteNode(f.ctx, name)
	wantKind(t, "delete deleted node", err, backends.ErrNotFound)
	listed, err = f.rt.ListNodes(f.ctx, f.selector())
	if err != nil || len(listed) != 0 {
		t.Errorf("list nodes after delete: %q, %v; want none", nodeNames(listed), err)
	}
}

// testKill: KillNode delivers the named signal (SIGKILL by default) to the
// node's main process, and refuses a node that is not running.
//
// Whether the restart policy then brings the node back is not checked:
// Docker (kill cancels the policy for SIGKILL and for the stop signal) and
// Podman (never after kill) disagree with the contract's "the restart policy
// applies to a killed node".
func testKill(t *testing.T, f *fixture) {
	name := f.name("node")
	f.createNode(backends.NodeSpec{Name: name})
	err := f.rt.KillNode(f.ctx, name, "")
	wantKind(t, "kill a node never started", err, backends.ErrNotRunning)

	// The test program exits 0 on SIGTERM: exit code 0 proves SIGTERM, not
	// SIGKILL, reached it.
	f.start(name)
	f.waitRunning(name)
	// Running is not listening: until the program has its handler, Go's
	// default for SIGTERM is exit 2. Its catch mask says when it is there.
	f.eventually("SIGTERM handler in "+name, 15*time.Second, func() (bool, string) {
		status := f.exec(name, nil, "cat", "/proc/1/status")
		return catchesSIGTERM(status.stdout), status.String()
	})
	if err := f.rt.KillNode(f.ctx, name, "SIGTERM"); err != nil {
		t.Fatalf("kill node %s with SIGTERM: %v", name, err)
	}
	n := f.waitNode(name, "exited after SIGTERM", 15*time.Second, func(n backends.Node) bool { return !n.State.Running })
	if n.State.ExitCode != 0 {
		t.Errorf("node %s killed with SIGTERM: exit code %d, want 0 (the test program's answer to SIGTERM)", name, n.State.ExitCode)
	}

	f.start(name)
	f.waitRunning(name)
	if err := f.rt.KillNode(f.ctx, name, ""); err != nil {
		t.Fatalf("kill node %s: %v", name, err)
	}
	n = f.waitNode(name, "exited after SIGKILL", 15*time.Second, func(n backends.Node) bool { return !n.State.Running })
	if n.State.ExitCode != 128+9 {
		t.Errorf("node %s killed with the default signal: exit code %d, want 137 (SIGKILL)", name, n.State.ExitCode)
	}
	err = f.rt.KillNode(f.ctx, name, "SIGKILL")
	wantKind(t, "kill a node that exited", err, backends.ErrNotRunning)
}

// catchesSIGTERM reads a /proc/PID/status text: whether SigCgt (the signals
// the process has handlers for) includes SIGTERM (15, bit 14).
func catchesSIGTERM(status string) bool {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<14) != 0
		}
	}
	return false
}
