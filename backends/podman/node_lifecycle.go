package podman

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/containers/podman/v4/pkg/bindings/containers"

	"github.com/k3d/k3d/backends"
)

// StartNode starts a node; the service answers "not modified" (no error)
// for a running one.
func (r *Runtime) StartNode(ctx context.Context, name string) error {
	if err := r.lifecycle(ctx, name, func(actx context.Context) error {
		return containers.Start(actx, name, nil)
	}, conflictIsExists); err != nil {
		if strings.Contains(err.Error(), "CDI devices") {
			// Podman resolves CDI devices only at start: a host without
			// a CDI spec for the GPUs cannot give them.
			return fmt.Errorf("start node %s: %w", name, backends.NewError(backends.ErrPrerequisite, nodeObj(name),
				"GPUs asked for, but this host has no CDI spec for "+backends.CDIGPUKind+": install the NVIDIA Container Toolkit and run `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml` ("+err.Error()+")"))
		}
		return fmt.Errorf("start node %s: %w", name, err)
	}
	return nil
}

// StopNode sends SIGTERM and SIGKILL after timeout. Podman remembers a stop
// as the user's wish, so restart policies leave the node down.
func (r *Runtime) StopNode(ctx context.Context, name string, timeout time.Duration) error {
	// The API counts whole seconds; round up so a timeout is never shortened.
	secs := uint(math.Ceil(max(timeout, 0).Seconds()))
	if err := r.lifecycle(ctx, name, func(actx context.Context) error {
		return containers.Stop(actx, name, new(containers.StopOptions).WithTimeout(secs))
	}, conflictIsExists); err != nil {
		return fmt.Errorf("stop node %s: %w", name, err)
	}
	return nil
}

// KillNode signals the node's main process. Podman suspends the restart
// policy of a node killed this way, as the contract says.
func (r *Runtime) KillNode(ctx context.Context, name string, signal string) error {
	if signal == "" {
		signal = "SIGKILL"
	}
	if err := r.lifecycle(ctx, name, func(actx context.Context) error {
		return containers.Kill(actx, name, new(containers.KillOptions).WithSignal(signal))
	}, conflictIsNotRun); err != nil {
		return fmt.Errorf("kill node %s with %s: %w", name, signal, err)
	}
	return nil
}

// DeleteNode force-removes a node with its anonymous volumes.
func (r *Runtime) DeleteNode(ctx context.Context, name string) error {
	if _, err := r.inspectContainer(ctx, name); err != nil {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	remove := func(actx context.Context) error {
		// Timeout 0: a running node is killed at once, as `docker rm -f`
		// does, instead of being asked to stop for 10 s first.
		reports, err := containers.Remove(actx, name, new(containers.RemoveOptions).WithForce(true).WithVolumes(true).WithTimeout(0))
		if err != nil {
			return err
		}
		for _, rep := range reports {
			if rep != nil && rep.Err != nil {
				return rep.Err
			}
		}
		return nil
	}
	for delay := 50 * time.Millisecond; ; delay *= 2 {
		err := r.lifecycle(ctx, name, remove, conflictIsInUse)
		if delay > 50*time.Millisecond && backends.IsNotFound(err) {
			err = nil // gone after all: an earlier try finished late
		}
		// Podman 4 fails a forced remove of a node that stops on its own
		// meanwhile (its process exited, or its restart policy is between
		// two runs): "could not be stopped: ... container state improper".
		// The node is stopped now, and the next try removes it.
		if err == nil || !(backends.IsNotRunning(err) || backends.IsInUse(err)) || delay > time.Second {
			if err != nil {
				return fmt.Errorf("delete node %s: %w", name, err)
			}
			if err := r.files.Remove(name); err != nil {
				return fmt.Errorf("delete node %s: %w", name, err)
			}
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("delete node %s: %w", name, ctx.Err())
		}
	}
}

// lifecycle runs one call on a node. Only DeleteNode looks the name up
// first (the service accepts ID prefixes too, and deleting by a prefix would
// hit a node the caller did not name); k3d's names are never hex IDs.
func (r *Runtime) lifecycle(ctx context.Context, name string, call func(context.Context) error, conflict conflictMeans) error {
	actx, err := r.api(ctx)
	if err != nil {
		return err
	}
	if err := call(actx); err != nil {
		return r.typed(err, nodeObj(name), conflict)
	}
	return nil
}
