package backends_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/k3d/k3d/backends"
)

// A signal to k3d's process group (Ctrl-C, `timeout`) must not reach the
// backend: k3d needs it alive to roll back what it made.
func TestTheBackendIsOutsideK3dsProcessGroup(t *testing.T) {
	c, err := backends.OpenPath(context.Background(), testBackend, backends.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	theirs, err := syscall.Getpgid(c.PID())
	if err != nil {
		t.Fatal(err)
	}
	if ours := syscall.Getpgrp(); theirs == ours {
		t.Fatalf("backend %d is in k3d's process group %d: a SIGTERM to the group kills it mid-rollback", c.PID(), ours)
	}
}
