package containerd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	client "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/moby/sys/signal"

	"github.com/k3d/k3d/backends"
)

// exitRecord is how a node's task ended, kept after StopNode deleted the
// task (which ends its shim and log driver).
type exitRecord struct {
	Code int       `json:"code"`
	At   time.Time `json:"at"`
}

// StartNode starts a created or stopped node in its network namespace,
// setting that up again first if the host rebooted since.
func (r *Runtime) StartNode(ctx context.Context, name string) error {
	if err := r.startNode(ctx, name); err != nil {
		return fmt.Errorf("start node %s: %w", name, err)
	}
	return nil
}

func (r *Runtime) startNode(ctx context.Context, name string) error {
	rec, err := r.nodeRecord(ctx, name)
	if err != nil {
		return err
	}
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return err
	}
	c, err := cli.LoadContainer(ctx, name)
	if err != nil {
		return r.typed(err, nodeObj(name))
	}
	old, err := c.Task(ctx, nil)
	if err != nil && !errdefs.IsNotFound(err) {
		return r.typed(err, nodeObj(name))
	}
	if old != nil {
		st, err := old.Status(ctx)
		if err == nil && (st.Status == client.Running || st.Status == client.Paused || st.Status == client.Pausing) {
			return nil
		}
	}
	// A node that crashed still asks the monitor to run it (one made by an
	// older k3d may say "stopped"): take it out of the monitor's hands while
	// this start replaces the task.
	if rec.c.Labels[labelRestartStatus] != "" {
		if err := r.setDesired(ctx, rec, desireStopped, ""); err != nil {
			return err
		}
	}
	if old != nil {
		// An exited task (or one created and never started): make room.
		if _, err := old.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return r.typed(err, nodeObj(name))
		}
	}
	if err := r.ensureNetNS(ctx, &rec); err != nil {
		return err
	}
	driver, err := r.logDriver(ctx)
	if err != nil {
		return err
	}
	dir := r.root.nodeDir(name)
	if err := recordStart(dir, startByHand); err != nil {
		return err
	}
	uri := logURI(driver, dir)
	task, err := c.NewTask(ctx, cio.LogURI(mustURL(uri)))
	if err != nil {
		return r.typed(err, nodeObj(name))
	}
	if err := task.Start(ctx); err != nil {
		cctx, cancel := withoutCancel(ctx)
		defer cancel()
		_, _ = task.Delete(cctx, client.WithProcessKill)
		return r.typed(err, nodeObj(name))
	}
	_ = os.Remove(filepath.Join(dir, nodeExit))
	// Only now: the monitor would replace a task that is created but not
	// yet started.
	return r.setDesired(ctx, rec, desireRunning, uri)
}

// ensureNetNS makes the node's network namespace again after a host reboot
// took it: the same path, the same addresses (asked for explicitly) and the
// same published ports.
func (r *Runtime) ensureNetNS(ctx context.Context, rec *nodeRecord) error {
	m := rec.meta
	if netNSAlive(m.NetNS) {
		return nil
	}
	// What the plugins set up outside the namespace went with the reboot
	// too, but their records (addresses, cached results) did not: release
	// them first.
	for i, a := range m.Networks {
		_ = r.cniDel(ctx, m.ID, "", a, portsFor(m, i))
	}
	if err := removeNetNS(m.NetNS); err != nil {
		return err
	}
	if err := newNetNS(m.NetNS); err != nil {
		return err
	}
	if err := r.cniLoopback(ctx, m.ID, m.NetNS); err != nil {
		return err
	}
	for i, a := range m.Networks {
		if _, err := r.cniAdd(ctx, m.ID, m.NetNS, a, portsFor(m, i)); err != nil {
			return err
		}
	}
	return nil
}

// StopNode sends SIGTERM, then SIGKILL after timeout, and deletes the task
// (ending its shim and log driver), recording how it ended. The restart
// monitor is told first, so it does not bring the node back.
func (r *Runtime) StopNode(ctx context.Context, name string, timeout time.Duration) error {
	if err := r.stopNode(ctx, name, timeout); err != nil {
		return fmt.Errorf("stop node %s: %w", name, err)
	}
	return nil
}

func (r *Runtime) stopNode(ctx context.Context, name string, timeout time.Duration) error {
	rec, err := r.nodeRecord(ctx, name)
	if err != nil {
		return err
	}
	if err := r.setDesired(ctx, rec, desireStopped, ""); err != nil {
		return err
	}
	task, err := r.task(ctx, name)
	if err != nil || task == nil {
		return err
	}
	st, err := task.Status(ctx)
	if err != nil {
		return r.typed(err, nodeObj(name))
	}
	if st.Status != client.Running && st.Status != client.Paused && st.Status != client.Pausing {
		return nil // exited by itself: its exit code stays readable
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return r.typed(err, nodeObj(name))
	}
	if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
		return r.typed(err, nodeObj(name))
	}
	var status client.ExitStatus
	t := time.NewTimer(max(timeout, 0))
	defer t.Stop()
	select {
	case status = <-exited:
	case <-t.C:
		if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
			return r.typed(err, nodeObj(name))
		}
		select {
		case status = <-exited:
		case <-ctx.Done():
			return ctx.Err()
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	rec2 := exitRecord{Code: int(status.ExitCode()), At: status.ExitTime().UTC()}
	if data, err := json.Marshal(rec2); err == nil {
		_ = writeFileAtomic(filepath.Join(r.root.nodeDir(name), nodeExit), data, 0o644)
	}
	return r.deleteTask(ctx, name, task)
}

// deleteTask removes an exited task. The shim can go away in the middle of
// the delete (ttrpc: closed) when the machine is busy; containerd then
// cleans the dead shim's task up by itself, so the delete is checked again
// a moment later instead of failing the stop.
func (r *Runtime) deleteTask(ctx context.Context, name string, task client.Task) error {
	_, err := task.Delete(ctx)
	for i := 0; err != nil && !errdefs.IsNotFound(err) && i < 3; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		again, terr := r.task(ctx, name)
		if terr != nil || again == nil {
			return terr
		}
		_, err = again.Delete(ctx)
	}
	if err != nil && !errdefs.IsNotFound(err) {
		return r.typed(err, nodeObj(name))
	}
	return nil
}

// task is the node's task, or nil when it has none.
func (r *Runtime) task(ctx context.Context, name string) (client.Task, error) {
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return nil, err
	}
	c, err := cli.LoadContainer(ctx, name)
	if err != nil {
		return nil, r.typed(err, nodeObj(name))
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, r.typed(err, nodeObj(name))
	}
	return task, nil
}

// killSettle is how long KillNode watches a node with a restart policy for
// the exit its signal caused, to keep the monitor from restarting it.
const killSettle = 2 * time.Second

// KillNode signals the node's main process. A node it ends is not
// restarted by its restart policy, as with Docker and Podman.
func (r *Runtime) KillNode(ctx context.Context, name string, sig string) error {
	if err := r.killNode(ctx, name, sig); err != nil {
		if sig == "" {
			sig = "SIGKILL"
		}
		return fmt.Errorf("kill node %s with %s: %w", name, sig, err)
	}
	return nil
}

func (r *Runtime) killNode(ctx context.Context, name string, sig string) error {
	s := syscall.SIGKILL
	if sig != "" {
		var err error
		if s, err = signal.ParseSignal(sig); err != nil {
			return invalid(nodeObj(name), "%v", err)
		}
	}
	rec, err := r.nodeRecord(ctx, name)
	if err != nil {
		return err
	}
	task, err := r.task(ctx, name)
	if err != nil {
		return err
	}
	if task == nil {
		return backends.NewError(backends.ErrNotRunning, nodeObj(name), "never started")
	}
	st, err := task.Status(ctx)
	if err != nil {
		return r.typed(err, nodeObj(name))
	}
	if st.Status != client.Running {
		return backends.NewError(backends.ErrNotRunning, nodeObj(name), string(st.Status))
	}
	if s == syscall.SIGKILL {
		if err := r.setDesired(ctx, rec, desireStopped, ""); err != nil {
			return err
		}
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return r.typed(err, nodeObj(name))
	}
	if err := task.Kill(ctx, s); err != nil {
		if errdefs.IsNotFound(err) {
			return backends.NewError(backends.ErrNotRunning, nodeObj(name), err.Error())
		}
		return r.typed(err, nodeObj(name))
	}
	if s == syscall.SIGKILL || rec.meta.RestartPolicy == backends.RestartNo {
		return nil
	}
	// A signal the process handles leaves it running; one that ends it
	// must end the node for good.
	t := time.NewTimer(killSettle)
	defer t.Stop()
	select {
	case <-exited:
		return r.setDesired(ctx, rec, desireStopped, "")
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DeleteNode removes a node, running or not: its task, network attachments
// (addresses, veths, port and firewall rules), network namespace, container
// record, root filesystem, anonymous volumes and files. The hosts files of
// the nodes it shared networks with are rewritten without it.
func (r *Runtime) DeleteNode(ctx context.Context, name string) error {
	if err := r.deleteNode(ctx, name); err != nil {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	return nil
}

func (r *Runtime) deleteNode(ctx context.Context, name string) error {
	rec, err := r.nodeRecord(ctx, name)
	if err != nil {
		return err
	}
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return err
	}
	if err := r.setDesired(ctx, rec, desireStopped, ""); err != nil && !backends.IsNotFound(err) {
		return err
	}
	c, err := cli.LoadContainer(ctx, name)
	if err != nil {
		return r.typed(err, nodeObj(name))
	}
	if task, err := c.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return r.typed(err, nodeObj(name))
		}
	} else if !errdefs.IsNotFound(err) {
		return r.typed(err, nodeObj(name))
	}
	m := rec.meta
	for i, a := range m.Networks {
		err := r.cniDel(ctx, m.ID, m.NetNS, a, portsFor(m, i))
		if err != nil && !backends.IsNotFound(err) {
			// Kept, so that a retry can release what is left.
			return err
		}
	}
	if err := removeNetNS(m.NetNS); err != nil {
		return err
	}
	// Under the state lock: a hosts update running elsewhere must not
	// write into the directory while it goes.
	unlock, err := r.lock(ctx, lockState)
	if err != nil {
		return err
	}
	defer unlock()
	if err := c.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return r.typed(err, nodeObj(name))
	}
	if err := os.RemoveAll(r.root.nodeDir(name)); err != nil {
		return err
	}
	return r.syncHosts(ctx, networkNames(m))
}

// mustURL parses a URL this package built.
func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
