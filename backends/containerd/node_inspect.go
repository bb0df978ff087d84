package containerd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/k3d/k3d/backends"
)

// InspectNode reports a node from its record, its task and its files.
func (r *Runtime) InspectNode(ctx context.Context, name string) (backends.Node, error) {
	n, err := r.inspectNode(ctx, name)
	if err != nil {
		return backends.Node{}, fmt.Errorf("inspect node %s: %w", name, err)
	}
	return n, nil
}

func (r *Runtime) inspectNode(ctx context.Context, name string) (backends.Node, error) {
	rec, err := r.nodeRecord(ctx, name)
	if err != nil {
		return backends.Node{}, err
	}
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return backends.Node{}, err
	}
	var proc *tasktypes.Process
	res, err := cli.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: name})
	if err == nil {
		proc = res.GetProcess()
	} else if err := errdefs.FromGRPC(err); !errdefs.IsNotFound(err) {
		return backends.Node{}, r.typed(err, nodeObj(name))
	}
	return r.nodeFrom(rec, proc), nil
}

// ListNodes lists the nodes whose labels match selector, with two calls
// to containerd whatever their number.
func (r *Runtime) ListNodes(ctx context.Context, selector map[string]string) ([]backends.Node, error) {
	out, err := r.listNodes(ctx, selector)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return out, nil
}

func (r *Runtime) listNodes(ctx context.Context, selector map[string]string) ([]backends.Node, error) {
	recs, err := r.listNodeRecords(ctx)
	if err != nil {
		return nil, err
	}
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return nil, err
	}
	res, err := cli.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if err != nil {
		return nil, r.typed(errdefs.FromGRPC(err), "tasks")
	}
	procs := map[string]*tasktypes.Process{}
	for _, p := range res.GetTasks() {
		procs[p.GetID()] = p
	}
	out := []backends.Node{}
	for _, rec := range recs {
		if matches(nodeLabels(rec), selector) {
			out = append(out, r.nodeFrom(rec, procs[rec.name]))
		}
	}
	return out, nil
}

// nodeFrom is a node as the contract reports it; proc is its task, or nil.
func (r *Runtime) nodeFrom(rec nodeRecord, proc *tasktypes.Process) backends.Node {
	m := rec.meta
	n := backends.Node{
		Name:          rec.name,
		ID:            m.ID,
		Hostname:      m.Hostname,
		Image:         m.Image,
		Labels:        nodeLabels(rec),
		Ports:         slices.Clone(m.Ports),
		Mounts:        slices.Clone(m.Mounts),
		Privileged:    m.Privileged,
		RestartPolicy: m.RestartPolicy,
		Ulimits:       m.Ulimits,
		HostPID:       m.HostPID,
		GPUs:          m.GPUs,
		MemoryLimit:   m.MemoryLimit,
		Created:       rec.c.CreatedAt,
	}
	if rec.c.Spec != nil {
		var s specs.Spec
		if err := json.Unmarshal(rec.c.Spec.GetValue(), &s); err == nil && s.Process != nil {
			n.Env = s.Process.Env
			n.Cmd = s.Process.Args
		}
	}
	for _, a := range m.Networks {
		n.Networks = append(n.Networks, backends.NodeNetwork{Network: a.Network, IPv4: a.IPv4, Aliases: slices.Clone(a.Aliases)})
	}
	n.State = r.nodeState(rec.name, proc)
	return n
}

// nodeState is what the node is doing: its task's state while it has one,
// else what StopNode recorded, else created (never started).
func (r *Runtime) nodeState(name string, proc *tasktypes.Process) backends.NodeState {
	dir := r.root.nodeDir(name)
	var st backends.NodeState
	var started bool
	st.StartedAt, st.RestartCount, started = startHistory(dir)
	switch {
	case proc != nil:
		switch proc.GetStatus() {
		case tasktypes.Status_RUNNING:
			st.Status, st.Running = backends.StatusRunning, true
		case tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
			st.Status, st.Running = backends.StatusPaused, true
		case tasktypes.Status_STOPPED:
			st.Status = backends.StatusExited
			st.ExitCode = int(proc.GetExitStatus())
			if t := proc.GetExitedAt(); t != nil {
				st.FinishedAt = t.AsTime()
			}
		case tasktypes.Status_CREATED:
			st.Status = backends.StatusCreated
		default:
			st.Status = backends.StatusUnknown
		}
	case started:
		st.Status = backends.StatusExited
		var ex exitRecord
		if data, err := os.ReadFile(filepath.Join(dir, nodeExit)); err == nil && json.Unmarshal(data, &ex) == nil {
			st.ExitCode, st.FinishedAt = ex.Code, ex.At
		}
	default:
		st.Status = backends.StatusCreated
	}
	return st
}
