package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// stayDown is how long a node must stay down to count as not restarted: many
// times the first restart delay of any runtime (Docker's is 100 ms).
const stayDown = 2 * time.Second

// testRestartPolicy: a node whose main process ends comes back under
// "always" and "on-failure", stays down under "no", and a node stopped on
// purpose is not brought back.
func testRestartPolicy(t *testing.T, f *fixture) {
	restarted := func(n backends.Node) bool {
		return n.State.RestartCount >= 1 && n.State.Running
	}
	notRunning := func(f *fixture, name string) func() (bool, string) {
		return func() (bool, string) {
			n, err := f.rt.InspectNode(f.ctx, name)
			if err != nil {
				return false, err.Error()
			}
			return !n.State.Running && n.State.Status != backends.StatusRunning, fmt.Sprintf("state %+v", n.State)
		}
	}

	t.Run("always", func(t *testing.T) {
		t.Parallel()
		f := f.sub(t, "always")
		name := f.name("node")
		f.createNode(backends.NodeSpec{Name: name, Cmd: []string{"exit-after", "500ms", "0"}, RestartPolicy: backends.RestartAlways})
		f.start(name)
		f.waitNode(name, "restarted after its process exited 0", 30*time.Second, restarted)
		if n := f.inspect(name); n.RestartPolicy != backends.RestartAlways {
			t.Errorf("node %s: restart policy %q, want always", name, n.RestartPolicy)
		}
		f.stop(name)
		f.holds("node "+name+" stopped on purpose stays down", stayDown, notRunning(f, name))
	})

	// What every k3d node gets (--auto-restart): back after its process
	// ends, down once stopped, and back to restarting once started again.
	t.Run("unless-stopped", func(t *testing.T) {
		t.Parallel()
		f := f.sub(t, "unless")
		name := f.name("node")
		f.createNode(backends.NodeSpec{Name: name, Cmd: []string{"exit-after", "500ms", "0"}, RestartPolicy: backends.RestartUnlessStopped})
		f.start(name)
		f.waitNode(name, "restarted after its process exited 0", 30*time.Second, restarted)
		if n := f.inspect(name); n.RestartPolicy != backends.RestartUnlessStopped {
			t.Errorf("node %s: restart policy %q, want unless-stopped", name, n.RestartPolicy)
		}
		f.stop(name)
		f.holds("node "+name+" stopped on purpose stays down", stayDown, notRunning(f, name))
		f.start(name)
		before := f.inspect(name).State.RestartCount
		f.waitNode(name, "restarting again after a start", 30*time.Second, func(n backends.Node) bool {
			return n.State.RestartCount > before && n.State.Running
		})
	})

	t.Run("on-failure", func(t *testing.T) {
		t.Parallel()
		f := f.sub(t, "onfail")
		name := f.name("node")
		f.createNode(backends.NodeSpec{Name: name, Cmd: []string{"exit-after", "500ms", "3"}, RestartPolicy: backends.RestartOnFailure})
		f.start(name)
		f.waitNode(name, "restarted after its process exited 3", 30*time.Second, restarted)
	})

	t.Run("no", func(t *testing.T) {
		t.Parallel()
		f := f.sub(t, "no")
		name := f.name("node")
		f.createNode(backends.NodeSpec{Name: name, Cmd: []string{"exit-after", "500ms", "3"}, RestartPolicy: backends.RestartNo})
		f.start(name)
		n := f.waitNode(name, "exited", 30*time.Second, func(n backends.Node) bool { return n.State.Status == backends.StatusExited })
		if n.State.ExitCode != 3 {
			t.Errorf("node %s: exit code %d, want 3", name, n.State.ExitCode)
		}
		f.holds("node "+name+" with restart policy no stays down", stayDown, func() (bool, string) {
			n, err := f.rt.InspectNode(f.ctx, name)
			if err != nil {
				return false, err.Error()
			}
			return !n.State.Running && n.State.RestartCount == 0, fmt.Sprintf("state %+v", n.State)
		})
	})
}
