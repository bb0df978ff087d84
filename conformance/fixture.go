package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// fixture is one subtest's view of the suite: it names and labels what the
// subtest creates, deletes it all afterwards, and then proves nothing with
// the subtest's labels is left.
type fixture struct {
	t      *testing.T
	s      *suite
	rt     backends.Runtime
	ctx    context.Context
	slug   string
	labels map[string]string
	net    string // the subtest's default network, made on first use
}

var slugUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

func newFixture(t *testing.T, s *suite, slug string) *fixture {
	slug = strings.Trim(slugUnsafe.ReplaceAllString(strings.ToLower(slug), "-"), "-")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	f := &fixture{
		t:    t,
		s:    s,
		rt:   s.rt,
		ctx:  ctx,
		slug: slug,
		labels: map[string]string{
			labelApp:  "k3d",
			labelRun:  s.runID,
			labelTest: slug,
		},
	}
	// Registered before anything is created, so it runs after every delete.
	t.Cleanup(f.checkNothingLeft)
	return f
}

// sub gives a nested subtest its own fixture, names and labels.
func (f *fixture) sub(t *testing.T, slug string) *fixture {
	return newFixture(t, f.s, f.slug+"-"+slug)
}

// on is the same fixture for a nested subtest that creates nothing, so that
// failures stop the right goroutine.
func (f *fixture) on(t *testing.T) *fixture {
	c := *f
	c.t = t
	return &c
}

// name is a runtime-wide unique name for one of this subtest's objects.
func (f *fixture) name(suffix string) string {
	return fmt.Sprintf("k3d-conf-%s-%s-%s", f.s.runID, f.slug, suffix)
}

// selector matches everything this subtest created.
func (f *fixture) selector() map[string]string {
	return maps.Clone(f.labels)
}

// withLabels returns the subtest's labels plus extra.
func (f *fixture) withLabels(extra map[string]string) map[string]string {
	l := maps.Clone(f.labels)
	maps.Copy(l, extra)
	return l
}

// cleanupCtx outlives the test's own context, which is cancelled before
// cleanups run.
func cleanupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}

func (f *fixture) checkNothingLeft() {
	ctx, cancel := cleanupCtx()
	defer cancel()
	sel := f.selector()
	nodes, err := f.rt.ListNodes(ctx, sel)
	if err != nil {
		f.t.Errorf("list nodes left behind: %v", err)
	}
	for _, n := range nodes {
		f.t.Errorf("node %s left behind", n.Name)
	}
	nets, err := f.rt.ListNetworks(ctx, sel)
	if err != nil {
		f.t.Errorf("list networks left behind: %v", err)
	}
	for _, n := range nets {
		f.t.Errorf("network %s left behind", n.Name)
	}
	vols, err := f.rt.ListVolumes(ctx, sel)
	if err != nil {
		f.t.Errorf("list volumes left behind: %v", err)
	}
	for _, v := range vols {
		f.t.Errorf("volume %s left behind", v.Name)
	}
}

// deleteLater deletes an object when the subtest ends; an object the subtest
// deleted itself is fine.
func (f *fixture) deleteLater(kind, name string, del func(context.Context, string) error) {
	f.t.Cleanup(func() {
		ctx, cancel := cleanupCtx()
		defer cancel()
		if err := del(ctx, name); err != nil && !backends.IsNotFound(err) {
			f.t.Errorf("clean up %s %s: %v", kind, name, err)
		}
	})
}

func (f *fixture) createNetwork(spec backends.NetworkSpec) backends.Network {
	f.t.Helper()
	spec.Labels = f.withLabels(spec.Labels)
	n, err := f.rt.CreateNetwork(f.ctx, spec)
	if err != nil {
		f.t.Fatalf("create network %s: %v", spec.Name, err)
	}
	f.deleteLater("network", spec.Name, f.rt.DeleteNetwork)
	return n
}

func (f *fixture) createVolume(spec backends.VolumeSpec) backends.Volume {
	f.t.Helper()
	spec.Labels = f.withLabels(spec.Labels)
	v, err := f.rt.CreateVolume(f.ctx, spec)
	if err != nil {
		f.t.Fatalf("create volume %s: %v", spec.Name, err)
	}
	f.deleteLater("volume", spec.Name, f.rt.DeleteVolume)
	return v
}

// defaultNetwork is a network for nodes whose spec names none, since k3d
// always puts nodes on a network of its own.
func (f *fixture) defaultNetwork() string {
	f.t.Helper()
	if f.net == "" {
		f.net = f.name("net")
		f.createNetwork(backends.NetworkSpec{Name: f.net})
	}
	return f.net
}

// nodeSpec fills in what every node of the suite has: the test image, the
// subtest's labels and a network.
func (f *fixture) nodeSpec(spec backends.NodeSpec) backends.NodeSpec {
	f.t.Helper()
	if spec.Image == "" {
		spec.Image = f.s.image
	}
	spec.Labels = f.withLabels(spec.Labels)
	if spec.Networks == nil {
		spec.Networks = []backends.NetworkAttachment{{Network: f.defaultNetwork()}}
	}
	return spec
}

func (f *fixture) createNode(spec backends.NodeSpec) backends.Node {
	f.t.Helper()
	spec = f.nodeSpec(spec)
	n, err := f.rt.CreateNode(f.ctx, spec)
	if err != nil {
		f.t.Fatalf("create node %s: %v", spec.Name, err)
	}
	f.deleteLater("node", spec.Name, f.rt.DeleteNode)
	return n
}

// runNode creates and starts a node and waits until it runs.
func (f *fixture) runNode(spec backends.NodeSpec) backends.Node {
	f.t.Helper()
	f.createNode(spec)
	f.start(spec.Name)
	return f.waitRunning(spec.Name)
}

func (f *fixture) start(name string) {
	f.t.Helper()
	if err := f.rt.StartNode(f.ctx, name); err != nil {
		f.t.Fatalf("start node %s: %v", name, err)
	}
}

func (f *fixture) stop(name string) {
	f.t.Helper()
	if err := f.rt.StopNode(f.ctx, name, 10*time.Second); err != nil {
		f.t.Fatalf("stop node %s: %v", name, err)
	}
}

func (f *fixture) inspect(name string) backends.Node {
	f.t.Helper()
	n, err := f.rt.InspectNode(f.ctx, name)
	if err != nil {
		f.t.Fatalf("inspect node %s: %v", name, err)
	}
	return n
}

func (f *fixture) waitRunning(name string) backends.Node {
	f.t.Helper()
	return f.waitNode(name, "running", 30*time.Second, func(n backends.Node) bool {
		return n.State.Running && n.State.Status == backends.StatusRunning
	})
}

// waitNode polls InspectNode until cond holds.
func (f *fixture) waitNode(name, what string, timeout time.Duration, cond func(backends.Node) bool) backends.Node {
	f.t.Helper()
	var n backends.Node
	f.eventually(fmt.Sprintf("node %s %s", name, what), timeout, func() (bool, string) {
		var err error
		n, err = f.rt.InspectNode(f.ctx, name)
		if err != nil {
			return false, err.Error()
		}
		return cond(n), fmt.Sprintf("state %+v", n.State)
	})
	return n
}

// eventually polls cond every 100 ms until it holds, and fails the test with
// the last state cond reported when it has not held within timeout.
func (f *fixture) eventually(what string, timeout time.Duration, cond func() (bool, string)) {
	f.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		select {
		case <-deadline.C:
			f.t.Fatalf("%s: not within %s; last seen: %s", what, timeout, state)
		case <-f.ctx.Done():
			f.t.Fatalf("%s: %v; last seen: %s", what, f.ctx.Err(), state)
		case <-tick.C:
		}
	}
}

// holds checks that cond stays true for the whole period, polling, for the
// few behaviours that are about something not happening (a node that must
// stay down).
func (f *fixture) holds(what string, period time.Duration, cond func() (bool, string)) {
	f.t.Helper()
	end := time.NewTimer(period)
	defer end.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if ok, state := cond(); !ok {
			f.t.Fatalf("%s: no longer true: %s", what, state)
		}
		select {
		case <-end.C:
			return
		case <-f.ctx.Done():
			f.t.Fatalf("%s: %v", what, f.ctx.Err())
		case <-tick.C:
		}
	}
}

// execResult is what a command run in a node gave back.
type execResult struct {
	stdout, stderr string
	code           int
}

func (r execResult) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// exec runs the test program in node with args and fails the test only when
// the command could not be run at all.
func (f *fixture) exec(node string, stdin io.Reader, args ...string) execResult {
	f.t.Helper()
	var out, errOut bytes.Buffer
	code, err := f.rt.Exec(f.ctx, node, backends.ExecSpec{
		Cmd:    append([]string{"/testprog"}, args...),
		Stdin:  stdin,
		Stdout: &out,
		Stderr: &errOut,
	})
	if err != nil {
		f.t.Fatalf("exec %q in %s: %v", args, node, err)
	}
	return execResult{out.String(), errOut.String(), code}
}

// run runs the test program in node and returns its stdout, failing the test
// when it exits non-zero.
func (f *fixture) run(node string, args ...string) string {
	f.t.Helper()
	r := f.exec(node, nil, args...)
	if r.code != 0 {
		f.t.Fatalf("exec %q in %s: %s", args, node, r)
	}
	return r.stdout
}

// wantKind fails the test unless err is of the contract's error kind.
func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error, want %q", what, kind)
	case !errors.Is(err, kind):
		t.Errorf("%s: error %q is not %q", what, err, kind)
	}
}

// wantLabels checks that got holds want verbatim, and that anything else in
// got is under the prefix the contract lets backends use.
func wantLabels(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if gv, ok := got[k]; !ok || gv != v {
			t.Errorf("%s: label %q is %q (present %t), want %q", what, k, gv, ok, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && !strings.HasPrefix(k, "k3d.runtime.") {
			t.Errorf("%s: extra label %q=%q outside the k3d.runtime. prefix", what, k, got[k])
		}
	}
}

func nodeNames(nodes []backends.Node) []string {
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	return names
}

func networkNames(nets []backends.Network) []string {
	var names []string
	for _, n := range nets {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	return names
}

func volumeNames(vols []backends.Volume) []string {
	var names []string
	for _, v := range vols {
		names = append(names, v.Name)
	}
	slices.Sort(names)
	return names
}

// sorted returns names sorted, for comparing with the *Names helpers.
func sorted(names ...string) []string {
	slices.Sort(names)
	return names
}

// nodeIP is node's address on network, or "" when it is not attached.
func nodeIP(n backends.Node, network string) string {
	for _, nn := range n.Networks {
		if nn.Network == network {
			return nn.IPv4
		}
	}
	return ""
}
