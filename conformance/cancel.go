package conformance

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// testCancel: a cancelled context stops the call and comes back as
// context.Canceled, also for a command that would otherwise run forever (the
// user pressing Ctrl-C during k3d's exec or log wait).
func testCancel(t *testing.T, f *fixture) {
	name := f.name("node")
	f.runNode(backends.NodeSpec{Name: name})

	cancelled, cancel := context.WithCancel(f.ctx)
	cancel()
	if _, err := f.rt.ListNodes(cancelled, f.selector()); !errors.Is(err, context.Canceled) {
		t.Errorf("list nodes with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := f.rt.InspectNode(cancelled, name); !errors.Is(err, context.Canceled) {
		t.Errorf("inspect node with a cancelled context: %v, want context.Canceled", err)
	}

	// An echo whose stdin never ends runs until the context is cancelled.
	stdin, feed := io.Pipe()
	defer feed.Close()
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := f.rt.Exec(ctx, name, backends.ExecSpec{Cmd: []string{"/testprog", "echo"}, Stdin: stdin, Stdout: io.Discard})
		done <- err
	}()
	// The write returns once the command's stdin is being read: it runs.
	fed := make(chan error, 1)
	go func() {
		_, err := feed.Write([]byte("still here\n"))
		fed <- err
	}()
	select {
	case err := <-fed:
		if err != nil {
			t.Fatalf("feed exec stdin: %v", err)
		}
	case err := <-done:
		t.Fatalf("exec ended before its stdin did: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatalf("exec did not read its stdin within 15s")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("exec cancelled while running: %v, want context.Canceled", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("exec still running 15s after its context was cancelled")
	}
	// The node itself is unharmed.
	if out := f.run(name, "out", "ok"); out != "ok\n" {
		t.Errorf("exec after a cancelled exec: %q", out)
	}
}
