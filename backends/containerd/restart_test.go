package containerd

import (
	"context"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// The start record counts the restart monitor's starts since the last
// start by hand, and tells when the node last started.
func TestParseStarts(t *testing.T) {
	data := []byte("manual 2026-01-01T10:00:00Z\nstart 2026-01-01T10:00:01Z\nstart 2026-01-01T10:00:11Z\n" +
		"manual 2026-01-01T11:00:00Z\nstart 2026-01-01T11:00:01Z\nstart 2026-01-01T11:00:21Z\nstart 2026-01-01T11:00:31Z\n")
	last, restarts, started := parseStarts(data)
	if !started || restarts != 2 || !last.Equal(time.Date(2026, 1, 1, 11, 0, 31, 0, time.UTC)) {
		t.Errorf("parse starts: last %s, %d restarts, started %t; want 11:00:31, 2, true", last, restarts, started)
	}
	if _, restarts, started := parseStarts([]byte("manual 2026-01-01T10:00:00Z\n")); started || restarts != 0 {
		t.Errorf("a start by hand whose task never came: %d restarts, started %t", restarts, started)
	}
}

// A node started by hand is not also stopped and started again by the
// restart monitor, and one stopped by hand stays stopped, however often the
// monitor looks: it reads a container's labels and then its task, so a
// start must never leave it a moment where the labels say "stopped" and the
// task runs. With containerd's 10 s interval this showed as a rare restart
// count of 1 after a start.
func TestRestartMonitorLeavesStartsAndStopsByHandAlone(t *testing.T) {
	needContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, rt := privateRuntime(ctx, t, "k3d-monitor-", 5*time.Millisecond)
	const name = "busy-monitor"
	if _, err := rt.CreateNode(ctx, backends.NodeSpec{Name: name, Image: suite.image, Cmd: []string{"sleep", "600"},
		RestartPolicy: backends.RestartUnlessStopped}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rt.DeleteNode(cctx, name); err != nil {
			t.Errorf("delete node %s: %v", name, err)
		}
		if cli, nctx, err := rt.Client(cctx); err == nil {
			deleteImages(nctx, cli)
		}
	})
	for i := range 15 {
		if i > 0 {
			if err := rt.StopNode(ctx, name, time.Second); err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
			time.Sleep(150 * time.Millisecond)
			if n, err := rt.InspectNode(ctx, name); err != nil || n.State.Running {
				t.Fatalf("round %d: node stopped by hand is %+v (%v), want stopped", i, n.State, err)
			}
		}
		if err := rt.StartNode(ctx, name); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		// Many monitor rounds.
		time.Sleep(150 * time.Millisecond)
		n, err := rt.InspectNode(ctx, name)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if !n.State.Running || n.State.RestartCount != 0 {
			t.Fatalf("round %d: node started by hand is %+v, want running with no policy restarts", i, n.State)
		}
	}
}
