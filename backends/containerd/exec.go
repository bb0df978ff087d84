package containerd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	client "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/k3d/k3d/backends"
)

// Exec runs a command in a running node, as a new process of its task, and
// returns its exit code.
func (r *Runtime) Exec(ctx context.Context, node string, spec backends.ExecSpec) (int, error) {
	code, err := r.exec(ctx, node, spec)
	if err != nil {
		return -1, fmt.Errorf("exec %q in node %s: %w", strings.Join(spec.Cmd, " "), node, err)
	}
	return code, nil
}

func (r *Runtime) exec(ctx context.Context, node string, spec backends.ExecSpec) (int, error) {
	if len(spec.Cmd) == 0 {
		return -1, invalid(nodeObj(node), "no command given")
	}
	if _, err := r.nodeRecord(ctx, node); err != nil {
		return -1, err
	}
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return -1, err
	}
	task, err := r.task(ctx, node)
	if err != nil {
		return -1, err
	}
	if task == nil {
		return -1, backends.NewError(backends.ErrNotRunning, nodeObj(node), "not started")
	}
	st, err := task.Status(ctx)
	if err != nil {
		return -1, r.typed(err, nodeObj(node))
	}
	if st.Status != client.Running {
		return -1, backends.NewError(backends.ErrNotRunning, nodeObj(node), string(st.Status))
	}
	c, err := cli.LoadContainer(ctx, node)
	if err != nil {
		return -1, r.typed(err, nodeObj(node))
	}
	cspec, err := c.Spec(ctx)
	if err != nil {
		return -1, r.typed(err, nodeObj(node))
	}
	proc := *cspec.Process
	proc.Terminal = false
	proc.Args = spec.Cmd
	proc.Env = mergeEnv(proc.Env, spec.Env)
	if spec.WorkDir != "" {
		proc.Cwd = spec.WorkDir
	}
	if spec.User != "" {
		u, err := lookupUser(fmt.Sprintf("/proc/%d/root", task.Pid()), spec.User)
		if err != nil {
			return -1, invalid(fmt.Sprintf("user %q in node %q", spec.User, node), "%v", err)
		}
		proc.User = u
	}

	stdout, stderr := spec.Stdout, spec.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	// The process's stdin ends only when both the backend's end of the
	// FIFO and the shim's are closed: the latter is CloseIO, sent once the
	// caller's stdin is exhausted.
	var stdin io.Reader
	closer := &stdinCloser{}
	if spec.Stdin != nil {
		closer.r = spec.Stdin
		stdin = closer
	}
	id := "exec-" + randomHex(8)
	p, err := task.Exec(ctx, id, &proc, cio.NewCreator(cio.WithStreams(stdin, stdout, stderr)))
	if err != nil {
		return -1, r.execErr(ctx, err, node, spec.Cmd[0])
	}
	cleanup := func() {
		cctx, cancel := withoutCancel(ctx)
		defer cancel()
		_, _ = p.Delete(cctx, client.WithProcessKill)
	}
	exited, err := p.Wait(ctx)
	if err != nil {
		cleanup()
		return -1, r.typed(err, nodeObj(node))
	}
	if err := p.Start(ctx); err != nil {
		cleanup()
		return -1, r.execErr(ctx, err, node, spec.Cmd[0])
	}
	closer.set(func() { _ = p.CloseIO(context.WithoutCancel(ctx), client.WithStdinCloser) })
	select {
	case status := <-exited:
		// Delete closes the output streams before it waits for them: wait
		// for the output first, until the shim closes its end (bounded, for
		// a command that left a process holding its stdout).
		copied := make(chan struct{})
		go func() { p.IO().Wait(); close(copied) }()
		t := time.NewTimer(outputDrain)
		select {
		case <-copied:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		if _, err := p.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			return -1, r.typed(err, nodeObj(node))
		}
		if err := status.Error(); err != nil {
			return -1, err
		}
		return int(status.ExitCode()), nil
	case <-ctx.Done():
		cctx, cancel := withoutCancel(ctx)
		defer cancel()
		_ = p.Kill(cctx, syscall.SIGKILL)
		select {
		case <-exited:
		case <-cctx.Done():
		}
		cleanup()
		return -1, ctx.Err()
	}
}

// outputDrain bounds the wait for an exec's output after it exited.
const outputDrain = 10 * time.Second

// execErr says why a process could not be made or started: the node went
// away, or the command cannot be run (not found, not executable).
func (r *Runtime) execErr(ctx context.Context, err error, node, cmd string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if task, terr := r.task(ctx, node); terr == nil && task != nil {
		if st, serr := task.Status(ctx); serr == nil && st.Status != client.Running {
			return backends.NewError(backends.ErrNotRunning, nodeObj(node), string(st.Status))
		}
	} else if terr == nil {
		return backends.NewError(backends.ErrNotRunning, nodeObj(node), "not started")
	}
	if typed := r.typed(err, nodeObj(node)); typed != err && !backends.IsNotFound(typed) {
		return typed
	}
	return backends.NewError(backends.ErrInvalid, fmt.Sprintf("command %q", cmd), err.Error())
}

// stdinCloser reads the caller's stdin and, at its end, closes the
// process's stdin.
type stdinCloser struct {
	r    io.Reader
	mu   sync.Mutex
	fn   func()
	done bool
}

func (s *stdinCloser) set(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fn = fn
	if s.done {
		fn()
	}
}

func (s *stdinCloser) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil {
		s.mu.Lock()
		if !s.done {
			s.done = true
			if s.fn != nil {
				s.fn()
			}
		}
		s.mu.Unlock()
	}
	return n, err
}

// mergeEnv is base with extra's variables added or replaced.
func mergeEnv(base, extra []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range extra {
		key, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if k, _, _ := strings.Cut(old, "="); k == key {
				out[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// lookupUser turns "uid[:gid]" or "name[:group]" into IDs, looking names
// up in the node's own /etc/passwd and /etc/group (under root).
func lookupUser(root, user string) (specs.User, error) {
	name, group, hasGroup := strings.Cut(user, ":")
	var u specs.User
	if uid, err := strconv.ParseUint(name, 10, 32); err == nil {
		u.UID = uint32(uid)
		// A numeric user's group is its passwd entry's, if it has one.
		if _, gid, ok := findID(root+"/etc/passwd", "", uint32(uid)); ok {
			u.GID = gid
		}
	} else {
		uid, gid, ok := findID(root+"/etc/passwd", name, 0)
		if !ok {
			return u, fmt.Errorf("no user %q in the node's /etc/passwd", name)
		}
		u.UID, u.GID = uid, gid
	}
	if hasGroup {
		if gid, err := strconv.ParseUint(group, 10, 32); err == nil {
			u.GID = uint32(gid)
		} else {
			gid, _, ok := findID(root+"/etc/group", group, 0)
			if !ok {
				return u, fmt.Errorf("no group %q in the node's /etc/group", group)
			}
			u.GID = gid
		}
	}
	return u, nil
}

// findID looks up an /etc/passwd or /etc/group entry by name (or, with an
// empty name, by ID) and returns its third and fourth fields.
func findID(path, name string, id uint32) (uint32, uint32, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 {
			continue
		}
		a, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil {
			continue
		}
		var b uint64
		if len(fields) > 3 {
			b, _ = strconv.ParseUint(fields[3], 10, 32)
		}
		if (name != "" && fields[0] == name) || (name == "" && uint32(a) == id) {
			return uint32(a), uint32(b), true
		}
	}
	return 0, 0, false
}
