package docker

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/k3d/k3d/backends"
)

// StartNode starts a node; the daemon answers "not modified" (no error) for
// a running one.
func (r *Runtime) StartNode(ctx context.Context, name string) error {
	if err := r.cli.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
		if strings.Contains(err.Error(), "could not select device driver") {
			// The daemon finds its GPU driver only at start: a host without
			// the NVIDIA Container Toolkit has none.
			return fmt.Errorf("start node %s: %w", name, backends.NewError(backends.ErrPrerequisite, nodeObj(name),
				"GPUs asked for, but Docker has no GPU device driver: install the NVIDIA Container Toolkit and restart dockerd ("+daemonMessage(err)+")"))
		}
		return fmt.Errorf("start node %s: %w", name, r.typed(err, nodeObj(name), conflictIsExists))
	}
	return nil
}

// StopNode sends SIGTERM and SIGKILL after timeout. The daemon remembers a
// stop as the user's wish, so restart policies leave the node down.
func (r *Runtime) StopNode(ctx context.Context, name string, timeout time.Duration) error {
	// The API counts whole seconds; round up so a timeout is never shortened.
	secs := int(math.Ceil(timeout.Seconds()))
	if secs < 0 {
		secs = 0
	}
	if err := r.cli.ContainerStop(ctx, name, container.StopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("stop node %s: %w", name, r.typed(err, nodeObj(name), conflictIsExists))
	}
	return nil
}

// KillNode signals the node's main process; its restart policy still applies.
func (r *Runtime) KillNode(ctx context.Context, name string, signal string) error {
	if signal == "" {
		signal = "SIGKILL"
	}
	if err := r.cli.ContainerKill(ctx, name, signal); err != nil {
		return fmt.Errorf("kill node %s with %s: %w", name, signal, r.typed(err, nodeObj(name), conflictIsNotRun))
	}
	return nil
}

// DeleteNode force-removes a node with its anonymous volumes.
func (r *Runtime) DeleteNode(ctx context.Context, name string) error {
	// Look first: remove accepts ID prefixes too, and the contract speaks names.
	if _, err := r.inspectContainer(ctx, name); err != nil {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	err := r.cli.ContainerRemove(ctx, name, container.RemoveOptions{RemoveVolumes: true, Force: true})
	if err != nil {
		return fmt.Errorf("delete node %s: %w", name, r.typed(err, nodeObj(name), conflictIsInUse))
	}
	if err := r.files.Remove(name); err != nil {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	return nil
}
