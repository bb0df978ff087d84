// Package testbackend is a fake Runtime, steered by the names it is given, for
// testing the wire protocol in-process and as the k3d-runtime-test program.
//
// Names and what they do:
//   - any name "fail-KIND" (KIND: notfound, exists, inuse, notrunning,
//     invalid, unreachable, prerequisite, bare-notfound, canceled, deadline, plain) makes a
//     call about that object fail with that error;
//   - node "crash", image "crash-after:N", exec "crash" panic the backend;
//   - node "block" and exec "block" wait for the context to end;
//   - exec commands: "cat" copies stdin to stdout; "split OUT ERR CODE" writes
//     OUT to stdout and ERR to stderr and exits with CODE; "exit-early CODE"
//     exits without reading stdin;
//   - file "/pattern/N" and image "pattern:N" are N bytes of Pattern;
//     image "endless" never ends; file "/copied/DIR" is the sha256 of what
//     CopyToNode put into DIR;
//   - ImageLoad returns "sha256:HEX" and "size:N" of the stream it read;
//   - ImageInspect knows image "present" (SampleImage);
//   - ImagePull of "progress:N" reports N steps of 100 bytes and succeeds;
//     "fail-KIND" reports one step, then fails; "block" reports one step,
//     then waits for the context to end.
//
// The fake reports what it observed on Events, for tests to wait on.
package testbackend

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/k3d/k3d/backends"
)

// Fake is the fake Runtime.
type Fake struct {
	// Events receives one line per thing a test may want to see happen on the
	// backend's side ("logs stopped", "image save closed", ...).
	Events chan string

	mu     sync.Mutex
	copied map[string]string // node + dir -> sha256 of the tar stream
}

// New returns a Fake.
func New() *Fake {
	return &Fake{Events: make(chan string, 100), copied: map[string]string{}}
}

var _ backends.Runtime = (*Fake)(nil)

func (f *Fake) event(s string) {
	select {
	case f.Events <- s:
	default:
	}
}

// Failure returns the error a "fail-KIND" name stands for, with what and
// object as a real backend would word them, or nil for any other name.
func Failure(name, what, object string) error {
	kind, ok := strings.CutPrefix(name, "fail-")
	if !ok {
		return nil
	}
	var err error
	switch kind {
	case "notfound":
		err = backends.NewError(backends.ErrNotFound, object, "no such object")
	case "exists":
		err = backends.NewError(backends.ErrAlreadyExists, object, "name taken")
	case "inuse":
		err = backends.NewError(backends.ErrInUse, object, "has active endpoints")
	case "notrunning":
		err = backends.NewError(backends.ErrNotRunning, object, "container is stopped")
	case "invalid":
		err = backends.NewError(backends.ErrInvalid, object, "bad spec")
	case "unreachable":
		err = &backends.UnreachableError{Runtime: "fake", Endpoint: "unix:///run/fake.sock", Hint: "start it with: fake-daemon", Detail: "dial unix /run/fake.sock: connect: no such file or directory"}
	case "prerequisite":
		err = &backends.PrerequisiteError{Runtime: "fake", Missing: "CNI plugins not found in /nonexistent", Fix: "install containernetworking-plugins"}
	case "bare-notfound":
		err = backends.ErrNotFound
	case "canceled":
		err = context.Canceled
	case "deadline":
		err = context.DeadlineExceeded
	default:
		return fmt.Errorf("%s: something odd happened", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// SampleInfo is what Info returns: every field set.
func SampleInfo() backends.Info {
	return backends.Info{
		Name: "fake", Version: "1.2.3", APIVersion: "1.41", Endpoint: "unix:///run/fake.sock",
		Rootless: true, CgroupVersion: 2, CgroupDriver: "systemd", OS: "linux", Arch: "amd64",
		Kernel: "6.1.0", FullPrivileges: true, Notes: []string{"note one", "note two"},
	}
}

// SampleNode is what InspectNode returns for an ordinary name: every field set.
func SampleNode(name string) backends.Node {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	return backends.Node{
		Name: name, ID: "id-" + name, Hostname: name + "-host", Image: "rancher/k3s:v1.36.0-k3s1",
		Labels: map[string]string{"app": "k3d", "k3d.cluster": "dev", "k3d.runtime.fake": "x"},
		Env:    []string{"K3S_TOKEN=secret", "EMPTY="},
		Cmd:    []string{"/bin/k3s", "server", "--tls-san=0.0.0.0"},
		State: backends.NodeState{Status: backends.StatusRunning, Running: true, ExitCode: 137,
			StartedAt: t0, FinishedAt: t0.Add(time.Hour), RestartCount: 3},
		Networks: []backends.NodeNetwork{{Network: "k3d-dev", IPv4: "172.18.0.2", Aliases: []string{"a", "b"}}, {Network: "bridge", IPv4: "172.17.0.3"}},
		Ports: []backends.PortMapping{{HostIP: "127.0.0.1", HostPort: 6443, ContainerPort: 6443, Protocol: "tcp"},
			{HostPort: 65535, ContainerPort: 53, Protocol: "udp"}},
		Mounts: []backends.Mount{{Type: backends.MountVolume, Source: "k3d-dev-images", Target: "/k3d/images"},
			{Type: backends.MountBind, Source: "/etc/x", Target: "/etc/x", ReadOnly: true},
			{Type: backends.MountTmpfs, Target: "/run", TmpfsSize: 64 << 20}},
		Privileged: true, RestartPolicy: backends.RestartUnlessStopped, MemoryLimit: 1 << 30,
		Ulimits: []backends.Ulimit{{Name: "nofile", Soft: 1024, Hard: 4096}}, HostPID: true, GPUs: "all",
		Created: t0.Add(-time.Minute),
	}
}

func (f *Fake) Info(ctx context.Context) (backends.Info, error) { return SampleInfo(), nil }

func (f *Fake) CreateNetwork(ctx context.Context, spec backends.NetworkSpec) (backends.Network, error) {
	if err := Failure(spec.Name, "create network "+spec.Name, "network "+strconv.Quote(spec.Name)); err != nil {
		return backends.Network{}, err
	}
	return backends.Network{Name: spec.Name, ID: "id-" + spec.Name, Labels: spec.Labels, Subnet: spec.Subnet, Gateway: "10.0.0.1"}, nil
}

func (f *Fake) InspectNetwork(ctx context.Context, name string) (backends.Network, error) {
	if err := Failure(name, "inspect network "+name, "network "+strconv.Quote(name)); err != nil {
		return backends.Network{}, err
	}
	return backends.Network{Name: name, ID: "id-" + name, Labels: map[string]string{"app": "k3d"}, Subnet: "10.0.0.0/24", Gateway: "10.0.0.1"}, nil
}

func (f *Fake) ListNetworks(ctx context.Context, selector map[string]string) ([]backends.Network, error) {
	return []backends.Network{{Name: "n1", Labels: selector}, {Name: "n2", Labels: selector}}, nil
}

func (f *Fake) DeleteNetwork(ctx context.Context, name string) error {
	return Failure(name, "delete network "+name, "network "+strconv.Quote(name))
}

func (f *Fake) ConnectNetwork(ctx context.Context, network, node string, aliases []string) error {
	return Failure(node, "connect node "+node, "node "+strconv.Quote(node))
}

func (f *Fake) DisconnectNetwork(ctx context.Context, network, node string) error {
	return Failure(node, "disconnect node "+node, "node "+strconv.Quote(node))
}

func (f *Fake) CreateVolume(ctx context.Context, spec backends.VolumeSpec) (backends.Volume, error) {
	if err := Failure(spec.Name, "create volume "+spec.Name, "volume "+strconv.Quote(spec.Name)); err != nil {
		return backends.Volume{}, err
	}
	return backends.Volume(spec), nil
}

func (f *Fake) InspectVolume(ctx context.Context, name string) (backends.Volume, error) {
	if err := Failure(name, "inspect volume "+name, "volume "+strconv.Quote(name)); err != nil {
		return backends.Volume{}, err
	}
	return backends.Volume{Name: name, Labels: map[string]string{"app": "k3d"}}, nil
}

func (f *Fake) ListVolumes(ctx context.Context, selector map[string]string) ([]backends.Volume, error) {
	return []backends.Volume{{Name: "v1", Labels: selector}}, nil
}

func (f *Fake) DeleteVolume(ctx context.Context, name string) error {
	return Failure(name, "delete volume "+name, "volume "+strconv.Quote(name))
}

// CreateNode echoes spec into a node; the label k3d.runtime.fake.entrypoint
// says whether the entrypoint arrived nil, empty or set.
func (f *Fake) CreateNode(ctx context.Context, spec backends.NodeSpec) (backends.Node, error) {
	if err := Failure(spec.Name, "create node "+spec.Name, "node "+strconv.Quote(spec.Name)); err != nil {
		return backends.Node{}, err
	}
	labels := maps.Clone(spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	switch {
	case spec.Entrypoint == nil:
		labels["k3d.runtime.fake.entrypoint"] = "nil"
	case len(spec.Entrypoint) == 0:
		labels["k3d.runtime.fake.entrypoint"] = "empty"
	default:
		labels["k3d.runtime.fake.entrypoint"] = "set"
	}
	n := backends.Node{
		Name: spec.Name, ID: "id-" + spec.Name, Hostname: spec.Hostname, Image: spec.Image, Labels: labels,
		Env: spec.Env, Cmd: append(append([]string{}, spec.Entrypoint...), spec.Cmd...),
		State: backends.NodeState{Status: backends.StatusCreated}, Ports: spec.Ports, Mounts: spec.Mounts,
		Privileged: spec.Privileged, RestartPolicy: spec.RestartPolicy, MemoryLimit: spec.MemoryLimit,
		Ulimits: spec.Ulimits, HostPID: spec.HostPID, GPUs: spec.GPUs,
	}
	for _, a := range spec.Networks {
		n.Networks = append(n.Networks, backends.NodeNetwork{Network: a.Network, IPv4: a.IPv4, Aliases: a.Aliases})
	}
	// Extra hosts and the user have no place in Node; they come back as env.
	for _, h := range spec.ExtraHosts {
		n.Env = append(n.Env, "HOST_"+h.Hostname+"="+h.IP)
	}
	if spec.User != "" {
		n.Env = append(n.Env, "USER="+spec.User)
	}
	return n, nil
}

func (f *Fake) StartNode(ctx context.Context, name string) error {
	return Failure(name, "start node "+name, "node "+strconv.Quote(name))
}

// StopNode fails with the timeout it was given in its message, so that tests
// can see it cross.
func (f *Fake) StopNode(ctx context.Context, name string, timeout time.Duration) error {
	if err := Failure(name, "stop node "+name, "node "+strconv.Quote(name)); err != nil {
		return err
	}
	return fmt.Errorf("stop node %s: timeout %s", name, timeout)
}

func (f *Fake) KillNode(ctx context.Context, name string, signal string) error {
	if err := Failure(name, "kill node "+name, "node "+strconv.Quote(name)); err != nil {
		return err
	}
	return fmt.Errorf("kill node %s: signal %q", name, signal)
}

func (f *Fake) DeleteNode(ctx context.Context, name string) error {
	return Failure(name, "delete node "+name, "node "+strconv.Quote(name))
}

func (f *Fake) InspectNode(ctx context.Context, name string) (backends.Node, error) {
	switch name {
	case "crash":
		panic("fake backend crash in InspectNode")
	case "block":
		<-ctx.Done()
		f.event("inspect node: context done")
		return backends.Node{}, fmt.Errorf("inspect node %s: %w", name, ctx.Err())
	}
	if err := Failure(name, "inspect node "+name, "node "+strconv.Quote(name)); err != nil {
		return backends.Node{}, err
	}
	return SampleNode(name), nil
}

func (f *Fake) ListNodes(ctx context.Context, selector map[string]string) ([]backends.Node, error) {
	a, b := SampleNode("a"), SampleNode("b")
	a.Labels, b.Labels = selector, selector
	return []backends.Node{a, b}, nil
}

func (f *Fake) Exec(ctx context.Context, node string, spec backends.ExecSpec) (int, error) {
	if err := Failure(node, "exec in node "+node, "node "+strconv.Quote(node)); err != nil {
		return 0, err
	}
	if len(spec.Cmd) == 0 {
		return 0, backends.NewError(backends.ErrInvalid, "exec in node "+node, "no command")
	}
	stdout, stderr := orDiscard(spec.Stdout), orDiscard(spec.Stderr)
	switch spec.Cmd[0] {
	case "cat":
		if spec.Stdin == nil {
			return 0, nil
		}
		if _, err := io.Copy(stdout, spec.Stdin); err != nil {
			f.event("exec: copy failed: " + err.Error())
			return 0, fmt.Errorf("exec in node %s: %w", node, err)
		}
		return 0, nil
	case "sha256":
		h := sha256.New()
		if spec.Stdin != nil {
			if _, err := io.Copy(h, spec.Stdin); err != nil {
				return 0, fmt.Errorf("exec in node %s: %w", node, err)
			}
		}
		fmt.Fprintln(stdout, hex.EncodeToString(h.Sum(nil)))
		return 0, nil
	case "split":
		for i := 0; i < 3; i++ {
			fmt.Fprintf(stdout, "%s %d\n", spec.Cmd[1], i)
			fmt.Fprintf(stderr, "%s %d\n", spec.Cmd[2], i)
		}
		code, _ := strconv.Atoi(spec.Cmd[3])
		return code, nil
	case "exit-early":
		code, _ := strconv.Atoi(spec.Cmd[1])
		return code, nil
	case "read-bytes":
		// Reads exactly N bytes and ends without waiting for stdin's end, as a
		// tar reader stops at the archive's end marker.
		n, _ := strconv.ParseInt(spec.Cmd[1], 10, 64)
		if spec.Stdin == nil {
			return 1, nil
		}
		if _, err := io.CopyN(io.Discard, spec.Stdin, n); err != nil {
			return 1, nil
		}
		return 0, nil
	case "env":
		fmt.Fprintf(stdout, "env=%q workdir=%q user=%q stdin=%v\n", spec.Env, spec.WorkDir, spec.User, spec.Stdin != nil)
		return 0, nil
	case "block":
		<-ctx.Done()
		f.event("exec: context done")
		return 0, fmt.Errorf("exec in node %s: %w", node, ctx.Err())
	case "crash":
		fmt.Fprintln(stdout, "about to crash")
		panic("fake backend crash in Exec")
	}
	return 0, backends.NewError(backends.ErrInvalid, "exec in node "+node, fmt.Sprintf("%q: executable file not found", spec.Cmd[0]))
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Logs: with Follow, a line every few milliseconds until ctx ends or the
// reader is closed; without, three lines.
func (f *Fake) Logs(ctx context.Context, node string, opts backends.LogOptions) (io.ReadCloser, error) {
	if err := Failure(node, "read logs of node "+node, "node "+strconv.Quote(node)); err != nil {
		return nil, err
	}
	if !opts.Follow {
		return io.NopCloser(strings.NewReader("line 0\nline 1\nline 2\n")), nil
	}
	pr, pw := io.Pipe()
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(pw, "line %d\n", i); err != nil {
				f.event("logs stopped: reader closed")
				return
			}
			select {
			case <-ctx.Done():
				f.event("logs stopped: context done")
				pw.CloseWithError(ctx.Err())
				return
			case <-t.C:
			}
		}
	}()
	return pr, nil
}

func (f *Fake) CopyToNode(ctx context.Context, node, dir string, tarStream io.Reader) error {
	if err := Failure(node, "copy to node "+node, "node "+strconv.Quote(node)); err != nil {
		return err
	}
	h := sha256.New()
	switch dir {
	case "/fail-early":
		if _, err := io.CopyN(h, tarStream, 1<<20); err != nil {
			return err
		}
		return backends.NewError(backends.ErrInvalid, "directory "+dir+" in node "+node, "no such directory")
	case "/block":
		_, err := io.Copy(h, tarStream)
		f.event(fmt.Sprintf("copy: stream ended: %v (context: %v)", err, ctx.Err()))
		return err
	}
	if _, err := io.Copy(h, tarStream); err != nil {
		return fmt.Errorf("copy to node %s: %w", node, err)
	}
	f.mu.Lock()
	f.copied[node+":"+dir] = hex.EncodeToString(h.Sum(nil))
	f.mu.Unlock()
	return nil
}

func (f *Fake) ReadFile(ctx context.Context, node, path string) (io.ReadCloser, error) {
	if err := Failure(node, "read file from node "+node, "node "+strconv.Quote(node)); err != nil {
		return nil, err
	}
	if n, ok := strings.CutPrefix(path, "/pattern/"); ok {
		size, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, backends.NewError(backends.ErrInvalid, "file "+path, err.Error())
		}
		return f.closeReporter("read file", Pattern(size)), nil
	}
	if dir, ok := strings.CutPrefix(path, "/copied"); ok {
		f.mu.Lock()
		sum, found := f.copied[node+":"+dir]
		f.mu.Unlock()
		if found {
			return io.NopCloser(strings.NewReader(sum)), nil
		}
	}
	return nil, fmt.Errorf("read %s from node %s: %w", path, node,
		backends.NotFound(fmt.Sprintf("file %q in node %q", path, node)))
}

func (f *Fake) ImageExists(ctx context.Context, ref string) (bool, error) {
	if err := Failure(ref, "look up image "+ref, "image "+strconv.Quote(ref)); err != nil {
		return false, err
	}
	return ref == "present", nil
}

func (f *Fake) ImageLoad(ctx context.Context, tarStream io.Reader) ([]string, error) {
	h := sha256.New()
	n, err := io.Copy(h, tarStream)
	if err != nil {
		f.event(fmt.Sprintf("image load: stream ended: %v (context: %v)", err, ctx.Err()))
		return nil, fmt.Errorf("load images: %w", err)
	}
	return []string{"sha256:" + hex.EncodeToString(h.Sum(nil)), "size:" + strconv.FormatInt(n, 10)}, nil
}

func (f *Fake) ImageSave(ctx context.Context, refs []string) (io.ReadCloser, error) {
	if len(refs) == 0 {
		return nil, backends.NewError(backends.ErrInvalid, "image save", "no images given")
	}
	ref := refs[0]
	if err := Failure(ref, "save image "+ref, "image "+strconv.Quote(ref)); err != nil {
		return nil, err
	}
	if n, ok := strings.CutPrefix(ref, "pattern:"); ok {
		size, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, backends.NewError(backends.ErrInvalid, "image "+ref, err.Error())
		}
		return f.closeReporter("image save", Pattern(size)), nil
	}
	if n, ok := strings.CutPrefix(ref, "crash-after:"); ok {
		size, _ := strconv.ParseInt(n, 10, 64)
		return io.NopCloser(io.MultiReader(Pattern(size), crashReader{})), nil
	}
	if ref == "endless" {
		return f.closeReporter("image save", Pattern(1<<62)), nil
	}
	return nil, fmt.Errorf("save image %s: %w", ref, backends.NotFound("image "+strconv.Quote(ref)))
}

// SampleImage is what ImageInspect returns for "present": every field set.
func SampleImage() backends.Image {
	return backends.Image{
		ID:   "sha256:" + strings.Repeat("0123456789abcdef", 4),
		Refs: []string{"present", "docker.io/library/present:latest"},
		Size: 5 << 30,
	}
}

func (f *Fake) ImageInspect(ctx context.Context, ref string) (backends.Image, error) {
	if err := Failure(ref, "inspect image "+ref, "image "+strconv.Quote(ref)); err != nil {
		return backends.Image{}, err
	}
	if ref != "present" {
		return backends.Image{}, fmt.Errorf("inspect image %s: %w", ref, backends.NotFound("image "+strconv.Quote(ref)))
	}
	return SampleImage(), nil
}

func (f *Fake) ImagePull(ctx context.Context, ref string, opts backends.PullOptions) error {
	progress := func(p backends.PullProgress) {
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	if n, ok := strings.CutPrefix(ref, "progress:"); ok {
		steps, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return backends.NewError(backends.ErrInvalid, "image "+ref, err.Error())
		}
		for i := int64(1); i <= steps; i++ {
			status := "Downloading"
			if i == steps {
				status = "Complete"
			}
			progress(backends.PullProgress{Done: 100 * i, Total: 100 * steps, Status: status})
		}
		return nil
	}
	progress(backends.PullProgress{Done: 1, Total: 2, Status: "Downloading"})
	if ref == "block" {
		<-ctx.Done()
		f.event("image pull: context done")
		return fmt.Errorf("pull image %s: %w", ref, ctx.Err())
	}
	if err := Failure(ref, "pull image "+ref, "image "+strconv.Quote(ref)); err != nil {
		return err
	}
	return fmt.Errorf("pull image %s: %w", ref, backends.NotFound("image "+strconv.Quote(ref)))
}

type crashReader struct{}

func (crashReader) Read([]byte) (int, error) { panic("fake backend crash in ImageSave") }

func (f *Fake) ImageTag(ctx context.Context, source, target string) error {
	return Failure(source, "tag image "+source, "image "+strconv.Quote(source))
}

// closeReporter reports on Events when the backend side closes r.
func (f *Fake) closeReporter(what string, r io.Reader) io.ReadCloser {
	return &reportingCloser{Reader: r, closed: func() { f.event(what + " closed") }}
}

type reportingCloser struct {
	io.Reader
	once   sync.Once
	closed func()
}

func (r *reportingCloser) Close() error {
	r.once.Do(r.closed)
	return nil
}

// Pattern returns n bytes in which every 8-byte word differs from its
// neighbours and depends on its offset, so that a lost, repeated or reordered
// chunk changes the stream's hash. It is cheap enough not to limit a
// throughput benchmark.
func Pattern(n int64) io.Reader {
	return &patternReader{left: n}
}

type patternReader struct {
	off  int64
	left int64
}

const patternMul = 0x9E3779B97F4A7C15

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := len(b)
	i := 0
	// Head: bytes up to the next word boundary.
	for ; i < n && (p.off+int64(i))%8 != 0; i++ {
		b[i] = patternByte(p.off + int64(i))
	}
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], uint64((p.off+int64(i))/8)*patternMul)
	}
	for ; i < n; i++ {
		b[i] = patternByte(p.off + int64(i))
	}
	p.off += int64(n)
	p.left -= int64(n)
	return n, nil
}

func patternByte(off int64) byte {
	return byte((uint64(off/8) * patternMul) >> (8 * uint(off%8)))
}
