package fake

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"strings"
	"time"

	"github.com/k3d/k3d/backends"
)

func (r *Runtime) CreateNode(ctx context.Context, spec backends.NodeSpec) (backends.Node, error) {
	if err := ctx.Err(); err != nil {
		return backends.Node{}, fmt.Errorf("create node %s: %w", spec.Name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("CreateNode", spec.Name); err != nil {
		return backends.Node{}, err
	}
	if _, ok := r.nodes[spec.Name]; ok {
		return backends.Node{}, backends.AlreadyExists(fmt.Sprintf("node %q", spec.Name))
	}
	if !r.images[spec.Image] {
		return backends.Node{}, backends.NotFound(fmt.Sprintf("image %q", spec.Image))
	}
	for _, a := range spec.Networks {
		if _, ok := r.networks[a.Network]; !ok {
			return backends.Node{}, backends.NotFound(fmt.Sprintf("network %q", a.Network))
		}
	}
	r.nextID++
	nd := &node{
		spec:    spec,
		id:      fmt.Sprintf("node%04d", r.nextID),
		files:   map[string][]byte{},
		changed: make(chan struct{}),
		created: time.Now(),
		state:   backends.NodeState{Status: backends.StatusCreated},
	}
	nd.spec.Labels = copyLabels(spec.Labels)
	for _, a := range spec.Networks {
		if err := r.attach(nd, a.Network, a.Aliases, a.IPv4); err != nil {
			return backends.Node{}, err
		}
	}
	for _, p := range spec.Ports {
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		nd.ports = append(nd.ports, p)
	}
	for _, m := range spec.Mounts {
		if m.Type == backends.MountVolume {
			if _, ok := r.volumes[m.Source]; !ok {
				r.volumes[m.Source] = &volume{vol: backends.Volume{Name: m.Source, Labels: map[string]string{}}}
			}
		}
	}
	r.nodes[spec.Name] = nd
	return r.nodeView(nd), nil
}

// nodeView copies a node for callers. r.mu is held.
func (r *Runtime) nodeView(nd *node) backends.Node {
	hostname := nd.spec.Hostname
	if hostname == "" {
		hostname = nd.spec.Name
	}
	cmd := append(append([]string(nil), nd.spec.Entrypoint...), nd.spec.Cmd...)
	v := backends.Node{
		Name:          nd.spec.Name,
		ID:            nd.id,
		Hostname:      hostname,
		Image:         nd.spec.Image,
		Labels:        copyLabels(nd.spec.Labels),
		Env:           append([]string(nil), nd.spec.Env...),
		Cmd:           cmd,
		State:         nd.state,
		Networks:      append([]backends.NodeNetwork(nil), nd.nets...),
		Ports:         append([]backends.PortMapping(nil), nd.ports...),
		Mounts:        append([]backends.Mount(nil), nd.spec.Mounts...),
		Privileged:    nd.spec.Privileged,
		RestartPolicy: nd.spec.RestartPolicy,
		MemoryLimit:   nd.spec.MemoryLimit,
		Ulimits:       append([]backends.Ulimit(nil), nd.spec.Ulimits...),
		HostPID:       nd.spec.HostPID,
		GPUs:          nd.spec.GPUs,
		Created:       nd.created,
	}
	if v.RestartPolicy == "" {
		v.RestartPolicy = backends.RestartNo
	}
	return v
}

// notify wakes every log follower of nd. r.mu is held.
func (nd *node) notify() {
	close(nd.changed)
	nd.changed = make(chan struct{})
}

func (r *Runtime) StartNode(ctx context.Context, name string) error {
	r.mu.Lock()
	if err := r.call("StartNode", name); err != nil {
		r.mu.Unlock()
		return err
	}
	nd, ok := r.nodes[name]
	if !ok {
		r.mu.Unlock()
		return backends.NotFound(fmt.Sprintf("node %q", name))
	}
	if nd.state.Running {
		r.mu.Unlock()
		return nil
	}
	// Publish ports the way a runtime does at start: a port taken on the host
	// fails the start.
	var listeners []net.Listener
	for i, p := range nd.ports {
		if p.Protocol != "tcp" {
			continue
		}
		host := p.HostIP
		l, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(p.HostPort)))
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			r.mu.Unlock()
			return backends.NewError(backends.ErrInvalid, fmt.Sprintf("node %q", name), "publish port: "+err.Error())
		}
		nd.ports[i].HostPort = uint16(l.Addr().(*net.TCPAddr).Port)
		listeners = append(listeners, l)
	}
	nd.serving = listeners
	runCtx, cancel := context.WithCancel(context.Background())
	nd.stopRun = cancel
	nd.startGen++
	nd.state = backends.NodeState{Status: backends.StatusRunning, Running: true, StartedAt: time.Now(), RestartCount: nd.state.RestartCount}
	nd.notify()
	onStart := r.OnStart
	if onStart == nil {
		onStart = DefaultOnStart
	}
	h := &Handle{r: r, name: name, gen: nd.startGen, Ctx: runCtx, Spec: nd.spec, listeners: listeners}
	r.mu.Unlock()
	go onStart(h)
	return nil
}

// halt ends a node's run. r.mu is held.
func (r *Runtime) halt(nd *node, code int) {
	if !nd.state.Running {
		return
	}
	if nd.stopRun != nil {
		nd.stopRun()
	}
	for _, l := range nd.serving {
		l.Close()
	}
	nd.serving = nil
	nd.state.Running = false
	nd.state.Status = backends.StatusExited
	nd.state.ExitCode = code
	nd.state.FinishedAt = time.Now()
	nd.notify()
}

func (r *Runtime) StopNode(ctx context.Context, name string, timeout time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("StopNode", name); err != nil {
		return err
	}
	nd, ok := r.nodes[name]
	if !ok {
		return backends.NotFound(fmt.Sprintf("node %q", name))
	}
	r.halt(nd, 0)
	return nil
}

func (r *Runtime) KillNode(ctx context.Context, name string, signal string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("KillNode", name); err != nil {
		return err
	}
	nd, ok := r.nodes[name]
	if !ok {
		return backends.NotFound(fmt.Sprintf("node %q", name))
	}
	if !nd.state.Running {
		return backends.NewError(backends.ErrNotRunning, fmt.Sprintf("node %q", name), "")
	}
	if signal == "" {
		signal = "SIGKILL"
	}
	nd.signals = append(nd.signals, signal)
	if signal == "SIGKILL" || signal == "SIGTERM" {
		r.halt(nd, 137)
	}
	return nil
}

// Signals lists the signals KillNode delivered to a node, in order.
func (r *Runtime) Signals(name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if nd, ok := r.nodes[name]; ok {
		return append([]string(nil), nd.signals...)
	}
	return nil
}

func (r *Runtime) DeleteNode(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("DeleteNode", name); err != nil {
		return err
	}
	nd, ok := r.nodes[name]
	if !ok {
		return backends.NotFound(fmt.Sprintf("node %q", name))
	}
	r.halt(nd, 137)
	delete(r.nodes, name)
	return nil
}

func (r *Runtime) InspectNode(ctx context.Context, name string) (backends.Node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("InspectNode", name); err != nil {
		return backends.Node{}, err
	}
	nd, ok := r.nodes[name]
	if !ok {
		return backends.Node{}, backends.NotFound(fmt.Sprintf("node %q", name))
	}
	return r.nodeView(nd), nil
}

func (r *Runtime) ListNodes(ctx context.Context, selector map[string]string) ([]backends.Node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("ListNodes", ""); err != nil {
		return nil, err
	}
	var out []backends.Node
	for _, nd := range r.nodes {
		if matches(nd.spec.Labels, selector) {
			out = append(out, r.nodeView(nd))
		}
	}
	return out, nil
}

func (r *Runtime) Exec(ctx context.Context, name string, spec backends.ExecSpec) (int, error) {
	r.mu.Lock()
	if err := r.call("Exec", name); err != nil {
		r.mu.Unlock()
		return 0, err
	}
	nd, ok := r.nodes[name]
	if !ok {
		r.mu.Unlock()
		return 0, backends.NotFound(fmt.Sprintf("node %q", name))
	}
	if !nd.state.Running {
		r.mu.Unlock()
		return 0, backends.NewError(backends.ErrNotRunning, fmt.Sprintf("node %q", name), "")
	}
	onExec := r.OnExec
	r.mu.Unlock()
	if onExec == nil {
		return 0, nil
	}
	return onExec(name, spec)
}

func (r *Runtime) Logs(ctx context.Context, name string, opts backends.LogOptions) (io.ReadCloser, error) {
	r.mu.Lock()
	if err := r.call("Logs", name); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	if _, ok := r.nodes[name]; !ok {
		r.mu.Unlock()
		return nil, backends.NotFound(fmt.Sprintf("node %q", name))
	}
	r.mu.Unlock()
	pr, pw := io.Pipe()
	go r.streamLogs(ctx, name, opts, pw)
	return pr, nil
}

func (r *Runtime) streamLogs(ctx context.Context, name string, opts backends.LogOptions, pw *io.PipeWriter) {
	sent := 0
	first := true
	for {
		r.mu.Lock()
		nd, ok := r.nodes[name]
		if !ok {
			r.mu.Unlock()
			pw.Close()
			return
		}
		lines := nd.logs
		if first && opts.Tail > 0 && len(lines) > opts.Tail {
			sent = len(lines) - opts.Tail
		}
		first = false
		var buf bytes.Buffer
		for ; sent < len(lines); sent++ {
			if !opts.Since.IsZero() && lines[sent].at.Before(opts.Since) {
				continue
			}
			buf.WriteString(lines[sent].text + "\n")
		}
		running := nd.state.Running
		changed := nd.changed
		r.mu.Unlock()
		if buf.Len() > 0 {
			if _, err := pw.Write(buf.Bytes()); err != nil {
				return
			}
		}
		if !opts.Follow || !running {
			pw.Close()
			return
		}
		select {
		case <-ctx.Done():
			pw.CloseWithError(ctx.Err())
			return
		case <-changed:
		}
	}
}

func (r *Runtime) CopyToNode(ctx context.Context, name, dir string, tarStream io.Reader) error {
	r.mu.Lock()
	if err := r.call("CopyToNode", name); err != nil {
		r.mu.Unlock()
		return err
	}
	_, ok := r.nodes[name]
	r.mu.Unlock()
	if !ok {
		return backends.NotFound(fmt.Sprintf("node %q", name))
	}
	tr := tar.NewReader(tarStream)
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return backends.NewError(backends.ErrInvalid, fmt.Sprintf("node %q", name), "read tar: "+err.Error())
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		files[path.Join(dir, hdr.Name)] = data
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	nd, ok := r.nodes[name]
	if !ok {
		return backends.NotFound(fmt.Sprintf("node %q", name))
	}
	for p, d := range files {
		nd.files[p] = d
	}
	return nil
}

func (r *Runtime) ReadFile(ctx context.Context, name, p string) (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("ReadFile", name); err != nil {
		return nil, err
	}
	nd, ok := r.nodes[name]
	if !ok {
		return nil, backends.NotFound(fmt.Sprintf("node %q", name))
	}
	data, ok := nd.files[path.Clean(p)]
	if !ok {
		return nil, backends.NotFound(fmt.Sprintf("file %s in node %q", p, name))
	}
	return io.NopCloser(bytes.NewReader(append([]byte(nil), data...))), nil
}

// File returns a file written into a node (by CopyToNode or a script).
func (r *Runtime) File(name, p string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	nd, ok := r.nodes[name]
	if !ok {
		return nil, false
	}
	d, ok := nd.files[path.Clean(p)]
	return d, ok
}

func (r *Runtime) ImageExists(ctx context.Context, ref string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("ImageExists", ref); err != nil {
		return false, err
	}
	return r.images[ref], nil
}

// ImageLoad reads the RepoTags of a docker-archive's manifest.json.
func (r *Runtime) ImageLoad(ctx context.Context, tarStream io.Reader) ([]string, error) {
	r.mu.Lock()
	if err := r.call("ImageLoad", ""); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	r.mu.Unlock()
	tr := tar.NewReader(tarStream)
	var refs []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, backends.NewError(backends.ErrInvalid, "image archive", err.Error())
		}
		if hdr.Name != "manifest.json" {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		refs = append(refs, repoTags(data)...)
	}
	if len(refs) == 0 {
		return nil, backends.NewError(backends.ErrInvalid, "image archive", "no manifest.json with RepoTags")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ref := range refs {
		r.images[ref] = true
	}
	return refs, nil
}

func (r *Runtime) ImageSave(ctx context.Context, refs []string) (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("ImageSave", ""); err != nil {
		return nil, err
	}
	for _, ref := range refs {
		if !r.images[ref] {
			return nil, backends.NotFound(fmt.Sprintf("image %q", ref))
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	manifest := fmt.Sprintf(`[{"RepoTags":["%s"]}]`, strings.Join(refs, `","`))
	_ = tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest)), Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte(manifest))
	_ = tw.Close()
	return io.NopCloser(&buf), nil
}

func (r *Runtime) ImageTag(ctx context.Context, source, target string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("ImageTag", source); err != nil {
		return err
	}
	if !r.images[source] {
		return backends.NotFound(fmt.Sprintf("image %q", source))
	}
	r.images[target] = true
	return nil
}

func (r *Runtime) ImageInspect(ctx context.Context, ref string) (backends.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("ImageInspect", ref); err != nil {
		return backends.Image{}, err
	}
	if !r.images[ref] {
		return backends.Image{}, backends.NotFound(fmt.Sprintf("image %q", ref))
	}
	return backends.Image{ID: r.imageID(ref), Refs: []string{ref}, Size: r.remote[ref]}, nil
}

func (r *Runtime) imageID(ref string) string {
	if id, ok := r.imageIDs[ref]; ok {
		return id
	}
	return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(ref)))
}

// ImagePull finds the images AddRemoteImage made pullable, reporting their
// size in four steps; any other registry is unreachable.
func (r *Runtime) ImagePull(ctx context.Context, ref string, opts backends.PullOptions) error {
	r.mu.Lock()
	err := r.call("ImagePull", ref)
	size, ok := r.remote[ref]
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if !ok {
		return &backends.UnreachableError{Runtime: "the registry of image " + ref, Endpoint: registryHost(ref), Detail: "the fake runtime pulls only images given to AddRemoteImage"}
	}
	for i := int64(1); i <= 4 && opts.Progress != nil; i++ {
		opts.Progress(backends.PullProgress{Done: size * i / 4, Total: size, Status: "Downloading"})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.images[ref] = true
	return nil
}

// registryHost is the registry part of ref, Docker Hub when it has none.
func registryHost(ref string) string {
	first, _, ok := strings.Cut(ref, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "docker.io"
}

// lastLines returns up to n log lines of a node, for assertions.
func (r *Runtime) LogLines(name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	nd, ok := r.nodes[name]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(nd.logs))
	for _, l := range nd.logs {
		out = append(out, l.text)
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
