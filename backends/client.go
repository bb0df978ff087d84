package backends

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"

	pb "github.com/k3d/k3d/backends/internal/runtimepb"
)

// OpenOptions configure a backend process.
type OpenOptions struct {
	// Stderr receives the backend's diagnostic output line by line (its
	// stderr, anything it prints after starting, and warnings about the
	// connection): k3d writes it to its debug log. Nil discards it.
	Stderr io.Writer
	// Env is added to the backend's environment (KEY=VALUE), after k3d's own.
	Env []string
}

// Client is a running backend program seen as a Runtime. Its methods may be
// called from several goroutines at once.
type Client struct {
	rpc  pb.RuntimeClient
	path string
	name string // base name of the executable, for messages

	plugin *plugin.Client // nil for an in-process connection (tests)
	proc   *process       // nil for an in-process connection (tests)
	sink   *lineSink
	flush  []*lineWriter

	closed atomic.Bool
}

var _ Runtime = (*Client)(nil)

// startTimeout bounds a backend's start when ctx has no deadline: a backend
// that neither answers nor exits is broken.
const startTimeout = time.Minute

// Open finds the backend for runtime name (k3d-runtime-NAME next to the k3d
// executable, then on PATH) and starts it.
func Open(ctx context.Context, name string, opts OpenOptions) (*Client, error) {
	path, err := FindBackend(name)
	if err != nil {
		return nil, err
	}
	return OpenPath(ctx, path, opts)
}

// OpenPath starts the backend program at path and connects to it. The process
// lives until Close (or until k3d exits).
func OpenPath(ctx context.Context, path string, opts OpenOptions) (*Client, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("start backend %s: %w", path, err)
	}
	sink := &lineSink{out: opts.Stderr}
	rawStderr := sink.writer("", true)
	syncStderr := sink.writer("", true)
	syncStdout := sink.writer("stdout: ", true)
	logOut := sink.writer("", false)

	var started atomic.Pointer[process]
	var socketDir atomic.Pointer[string]
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshakeConfig(ProtocolVersion),
		Plugins:          plugin.PluginSet{pluginName: &runtimePlugin{}},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         false,
		RunnerFunc: func(_ hclog.Logger, cmd *exec.Cmd, dir string) (runner.Runner, error) {
			socketDir.Store(&dir)
			// cmd carries the environment go-plugin prepared (k3d's own plus
			// the handshake variables); the caller's extra variables go after
			// k3d's, and the cookie last so that nothing can shadow it.
			env := append(append(cmd.Env, opts.Env...), cookieKey+"="+cookieValue)
			p, err := newProcess(abs, env)
			if err != nil {
				return nil, err
			}
			started.Store(p)
			// Checked after the Store: a cancellation that found no process
			// to kill is seen here.
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return p, nil
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   "go-plugin",
			Level:  hclog.Warn,
			Output: logOut,
		}),
		Stderr:          rawStderr,
		SyncStdout:      syncStdout,
		SyncStderr:      syncStderr,
		StartTimeout:    startTimeout,
		GRPCDialOptions: dialOptions(),
	})

	type result struct {
		c   *Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		cp, err := pc.Client()
		if err != nil {
			ch <- result{err: err}
			return
		}
		raw, err := cp.Dispense(pluginName)
		if err != nil {
			ch <- result{err: err}
			return
		}
		ch <- result{c: raw.(*Client)}
	}()

	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		// go-plugin holds its lock for the whole start, so stop the child
		// directly; the start then fails and returns.
		if p := started.Load(); p != nil {
			_ = p.Kill(context.Background())
		}
		<-ch
		stopFailed(pc, socketDir.Load())
		return nil, fmt.Errorf("start backend %s: %w", abs, ctx.Err())
	}
	if r.err != nil {
		err := startError(abs, started.Load(), sink, r.err)
		stopFailed(pc, socketDir.Load())
		return nil, err
	}
	c := r.c
	c.path, c.name = abs, filepath.Base(abs)
	c.plugin, c.proc, c.sink = pc, started.Load(), sink
	c.flush = []*lineWriter{rawStderr, syncStderr, syncStdout, logOut}
	return c, nil
}

// stopFailed cleans up after a backend that did not come up. go-plugin
// leaves the directory it made for the backend's socket behind when the
// process never started.
func stopFailed(pc *plugin.Client, socketDir *string) {
	pc.Kill()
	if socketDir != nil && *socketDir != "" {
		_ = os.RemoveAll(*socketDir)
	}
}

// startError explains why a backend did not come up, in the user's terms.
func startError(path string, p *process, sink *lineSink, err error) error {
	if p == nil || p.processID() == 0 {
		// It never ran: the exec error says why (no such file, not executable).
		return fmt.Errorf("start backend %s: %w", path, err)
	}
	line := p.stdout.firstLine()
	if v, ok := handshakeProtocol(line); ok && v != ProtocolVersion {
		return &ProtocolMismatchError{Path: path, Backend: v, K3d: ProtocolVersion}
	}
	if line != "" {
		if _, ok := handshakeProtocol(line); !ok {
			return fmt.Errorf("backend %s is not a k3d backend: it answered %q to the k3d handshake", path, truncate(line, 120))
		}
		return fmt.Errorf("start backend %s: %w", path, err)
	}
	// No handshake: the child most likely exited. Give its exit a moment to
	// be observed so that the message can say how.
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	}
	if exited, how := p.exited(); exited {
		msg := fmt.Sprintf("backend %s exited before the k3d handshake: %s", path, how)
		if r := sink.tail.reason(); r != "" {
			msg += " (" + r + ")"
		}
		return errors.New(msg)
	}
	return fmt.Errorf("start backend %s: %w", path, err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ProtocolMismatchError says a backend was built for another wire protocol
// version than this k3d.
type ProtocolMismatchError struct {
	Path    string
	Backend int // the version the backend speaks
	K3d     int // ProtocolVersion
}

func (e *ProtocolMismatchError) Error() string {
	return fmt.Sprintf("backend %s speaks protocol %d, this k3d speaks %d: rebuild it with make build", e.Path, e.Backend, e.K3d)
}

// Path is the backend executable this client runs.
func (c *Client) Path() string { return c.path }

// Close stops the backend process; calls still running fail with
// ErrBackendClosed. Close may be called more than once.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.plugin != nil {
		c.plugin.Kill()
	}
	for _, w := range c.flush {
		w.flush()
	}
	return nil
}

func (c *Client) Info(ctx context.Context) (Info, error) {
	r, err := c.rpc.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return Info{}, c.callError(ctx, "Info", "get runtime info", err)
	}
	return infoFromPB(r), nil
}

func (c *Client) CreateNetwork(ctx context.Context, spec NetworkSpec) (Network, error) {
	r, err := c.rpc.CreateNetwork(ctx, networkSpecToPB(spec))
	if err != nil {
		return Network{}, c.callError(ctx, "CreateNetwork", "create network "+spec.Name, err)
	}
	return networkFromPB(r), nil
}

func (c *Client) InspectNetwork(ctx context.Context, name string) (Network, error) {
	r, err := c.rpc.InspectNetwork(ctx, &pb.NameRequest{Name: name})
	if err != nil {
		return Network{}, c.callError(ctx, "InspectNetwork", "inspect network "+name, err)
	}
	return networkFromPB(r), nil
}

func (c *Client) ListNetworks(ctx context.Context, selector map[string]string) ([]Network, error) {
	r, err := c.rpc.ListNetworks(ctx, &pb.Selector{Labels: selector})
	if err != nil {
		return nil, c.callError(ctx, "ListNetworks", "list networks", err)
	}
	return networksFromPB(r), nil
}

func (c *Client) DeleteNetwork(ctx context.Context, name string) error {
	_, err := c.rpc.DeleteNetwork(ctx, &pb.NameRequest{Name: name})
	return c.callError(ctx, "DeleteNetwork", "delete network "+name, err)
}

func (c *Client) ConnectNetwork(ctx context.Context, network, node string, aliases []string) error {
	_, err := c.rpc.ConnectNetwork(ctx, &pb.ConnectNetworkRequest{Network: network, Node: node, Aliases: aliases})
	return c.callError(ctx, "ConnectNetwork", "connect node "+node+" to network "+network, err)
}

func (c *Client) DisconnectNetwork(ctx context.Context, network, node string) error {
	_, err := c.rpc.DisconnectNetwork(ctx, &pb.DisconnectNetworkRequest{Network: network, Node: node})
	return c.callError(ctx, "DisconnectNetwork", "disconnect node "+node+" from network "+network, err)
}

func (c *Client) CreateVolume(ctx context.Context, spec VolumeSpec) (Volume, error) {
	r, err := c.rpc.CreateVolume(ctx, volumeSpecToPB(spec))
	if err != nil {
		return Volume{}, c.callError(ctx, "CreateVolume", "create volume "+spec.Name, err)
	}
	return volumeFromPB(r), nil
}

func (c *Client) InspectVolume(ctx context.Context, name string) (Volume, error) {
	r, err := c.rpc.InspectVolume(ctx, &pb.NameRequest{Name: name})
	if err != nil {
		return Volume{}, c.callError(ctx, "InspectVolume", "inspect volume "+name, err)
	}
	return volumeFromPB(r), nil
}

func (c *Client) ListVolumes(ctx context.Context, selector map[string]string) ([]Volume, error) {
	r, err := c.rpc.ListVolumes(ctx, &pb.Selector{Labels: selector})
	if err != nil {
		return nil, c.callError(ctx, "ListVolumes", "list volumes", err)
	}
	return volumesFromPB(r), nil
}

func (c *Client) DeleteVolume(ctx context.Context, name string) error {
	_, err := c.rpc.DeleteVolume(ctx, &pb.NameRequest{Name: name})
	return c.callError(ctx, "DeleteVolume", "delete volume "+name, err)
}

func (c *Client) CreateNode(ctx context.Context, spec NodeSpec) (Node, error) {
	r, err := c.rpc.CreateNode(ctx, nodeSpecToPB(spec))
	if err != nil {
		return Node{}, c.callError(ctx, "CreateNode", "create node "+spec.Name, err)
	}
	return nodeFromPB(r), nil
}

func (c *Client) StartNode(ctx context.Context, name string) error {
	_, err := c.rpc.StartNode(ctx, &pb.NameRequest{Name: name})
	return c.callError(ctx, "StartNode", "start node "+name, err)
}

func (c *Client) StopNode(ctx context.Context, name string, timeout time.Duration) error {
	_, err := c.rpc.StopNode(ctx, &pb.StopNodeRequest{Name: name, TimeoutNanos: int64(timeout)})
	return c.callError(ctx, "StopNode", "stop node "+name, err)
}

func (c *Client) KillNode(ctx context.Context, name string, signal string) error {
	_, err := c.rpc.KillNode(ctx, &pb.KillNodeRequest{Name: name, Signal: signal})
	return c.callError(ctx, "KillNode", "kill node "+name, err)
}

func (c *Client) DeleteNode(ctx context.Context, name string) error {
	_, err := c.rpc.DeleteNode(ctx, &pb.NameRequest{Name: name})
	return c.callError(ctx, "DeleteNode", "delete node "+name, err)
}

func (c *Client) InspectNode(ctx context.Context, name string) (Node, error) {
	r, err := c.rpc.InspectNode(ctx, &pb.NameRequest{Name: name})
	if err != nil {
		return Node{}, c.callError(ctx, "InspectNode", "inspect node "+name, err)
	}
	return nodeFromPB(r), nil
}

func (c *Client) ListNodes(ctx context.Context, selector map[string]string) ([]Node, error) {
	r, err := c.rpc.ListNodes(ctx, &pb.Selector{Labels: selector})
	if err != nil {
		return nil, c.callError(ctx, "ListNodes", "list nodes", err)
	}
	return nodesFromPB(r), nil
}

func (c *Client) ImageExists(ctx context.Context, ref string) (bool, error) {
	r, err := c.rpc.ImageExists(ctx, &pb.ImageRef{Ref: ref})
	if err != nil {
		return false, c.callError(ctx, "ImageExists", "look up image "+ref, err)
	}
	return r.GetExists(), nil
}

func (c *Client) ImageTag(ctx context.Context, source, target string) error {
	_, err := c.rpc.ImageTag(ctx, &pb.ImageTagRequest{Source: source, Target: target})
	return c.callError(ctx, "ImageTag", "tag image "+source+" as "+target, err)
}
