package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// commandTimeout bounds one k3d command, so that a hung command fails its test
// with its output instead of eating the whole test binary's timeout.
const commandTimeout = 5 * time.Minute

// session runs the k3d binary the way a user would, with its own kubeconfig
// file (never the user's ~/.kube/config) and the runtime chosen by name.
type session struct {
	t          testing.TB
	r          *runtimeEnv
	kubeconfig string
	// env is added to the environment of every command (KEY=VALUE).
	env []string
}

func newSession(t testing.TB, r *runtimeEnv) *session {
	return &session{t: t, r: r, kubeconfig: filepath.Join(t.TempDir(), "kubeconfig")}
}

// with is the same session reporting to t (a subtest).
func (s *session) with(t testing.TB) *session {
	c := *s
	c.t = t
	return &c
}

// k3dRun is one finished k3d command.
type k3dRun struct {
	args     []string
	stdout   string
	stderr   string
	code     int
	duration time.Duration
}

func (k k3dRun) String() string {
	return fmt.Sprintf("k3d %s (exit %d, %s)\nstdout:\n%s\nstderr:\n%s",
		strings.Join(k.args, " "), k.code, k.duration.Round(time.Millisecond), k.stdout, k.stderr)
}

// run runs k3d and returns what it did, whatever the exit code.
func (s *session) run(args ...string) k3dRun {
	s.t.Helper()
	return s.runEnv(nil, args...)
}

// runEnv runs k3d with extra environment variables.
func (s *session) runEnv(extra []string, args ...string) k3dRun {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.k3d, args...)
	cmd.Env = s.environ(extra)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := k3dRun{args: args, stdout: stdout.String(), stderr: stderr.String(), duration: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.code = exitErr.ExitCode()
	default:
		s.t.Fatalf("run k3d %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		s.t.Fatalf("k3d %s did not finish within %s\n%s", strings.Join(args, " "), commandTimeout, res)
	}
	return res
}

// must runs k3d and fails the test unless it exits 0.
func (s *session) must(args ...string) k3dRun {
	s.t.Helper()
	res := s.run(args...)
	if res.code != 0 {
		s.t.Fatalf("want success from: %s", res)
	}
	s.t.Logf("k3d %s: ok in %s", strings.Join(args, " "), res.duration.Round(time.Millisecond))
	return res
}

// environ is the user's environment with the kubeconfig and runtime of this
// session, so that a test never reads or writes the user's own settings.
func (s *session) environ(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "K3D_RUNTIME=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "KUBECONFIG="+s.kubeconfig, "K3D_RUNTIME="+s.r.backend)
	env = append(env, s.r.env...)
	env = append(env, s.env...)
	return append(env, extra...)
}

// clusterName is a fresh cluster name, unique to this process and short enough
// for k3d's 32-character limit; tag says which test made it.
func clusterName(tag string) string {
	name := "e2e-" + suite.token + "-" + randomHex(2)
	if tag != "" {
		name += "-" + tag
	}
	if len(name) > 32 {
		name = name[:32]
	}
	return strings.TrimRight(name, "-")
}

// ours reports whether a cluster or object name was made by this process.
func ours(name string) bool { return strings.Contains(name, "e2e-"+suite.token+"-") }

// createCluster runs `k3d create cluster NAME ARGS...` with the test double's
// image, and registers a cleanup that deletes the cluster with k3d, then checks
// through the runtime that nothing of it remains (and removes what does).
func (s *session) createCluster(name string, args ...string) k3dRun {
	s.t.Helper()
	s.deleteOnCleanup(name)
	return s.must(append([]string{"create", "cluster", name, "--image", s.r.image}, args...)...)
}

// deleteOnCleanup makes sure that cluster name is gone when the test ends,
// even if it failed half way, and fails the test if k3d left anything of it.
func (s *session) deleteOnCleanup(name string) {
	s.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		left, err := leftovers(ctx, s.r.rt, name)
		if err != nil {
			s.t.Errorf("cleanup: list what is left of cluster %s: %v", name, err)
			return
		}
		if len(left) == 0 {
			return // the test deleted it, or never made it
		}
		if s.t.Failed() {
			logNodeOutput(ctx, s.t, s.r.rt, name)
		}
		if res := s.run("delete", "cluster", name); res.code != 0 {
			s.t.Errorf("cleanup: %s", res)
		}
		if left, err = leftovers(ctx, s.r.rt, name); err != nil {
			s.t.Errorf("cleanup: list what is left of cluster %s: %v", name, err)
			return
		}
		if len(left) > 0 {
			s.t.Errorf("k3d delete cluster %s left k3d objects behind: %s", name, strings.Join(left, ", "))
			removeLeftovers(ctx, s.t, s.r.rt, name)
		}
	})
}

// logNodeOutput puts the last lines of every node of a failed test's cluster
// into the test log, so that a failure in CI can be understood after the
// cluster is gone.
func logNodeOutput(ctx context.Context, t testing.TB, rt backends.Runtime, cluster string) {
	nodes, err := rt.ListNodes(ctx, clusterSelector(cluster))
	if err != nil {
		t.Logf("failure diagnostics: list nodes of %s: %v", cluster, err)
		return
	}
	for _, n := range nodes {
		rc, err := rt.Logs(ctx, n.Name, backends.LogOptions{Tail: 40})
		if err != nil {
			t.Logf("failure diagnostics: logs of %s: %v", n.Name, err)
			continue
		}
		out, _ := io.ReadAll(io.LimitReader(rc, 16<<10))
		rc.Close()
		t.Logf("failure diagnostics: node %s (%s, running=%v), last output:\n%s", n.Name, n.Labels["k3d.role"], n.State.Running, out)
	}
}

// clusterSelector selects every k3d object labelled as part of cluster.
func clusterSelector(cluster string) map[string]string {
	return map[string]string{"app": "k3d", "k3d.cluster": cluster}
}

// leftovers lists, through the contract, what exists of cluster: nodes,
// networks and volumes labelled with it, and its network and image volume by name.
func leftovers(ctx context.Context, rt backends.Runtime, cluster string) ([]string, error) {
	var left []string
	nodes, err := rt.ListNodes(ctx, clusterSelector(cluster))
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		left = append(left, "node "+n.Name)
	}
	nets, err := rt.ListNetworks(ctx, clusterSelector(cluster))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, n := range nets {
		left = append(left, "network "+n.Name)
		seen["network "+n.Name] = true
	}
	if _, err := rt.InspectNetwork(ctx, "k3d-"+cluster); err == nil && !seen["network k3d-"+cluster] {
		left = append(left, "network k3d-"+cluster)
	} else if err != nil && !backends.IsNotFound(err) {
		return nil, err
	}
	vols, err := rt.ListVolumes(ctx, clusterSelector(cluster))
	if err != nil {
		return nil, err
	}
	for _, v := range vols {
		left = append(left, "volume "+v.Name)
		seen["volume "+v.Name] = true
	}
	imageVol := "k3d-" + cluster + "-images"
	if _, err := rt.InspectVolume(ctx, imageVol); err == nil && !seen["volume "+imageVol] {
		left = append(left, "volume "+imageVol)
	} else if err != nil && !backends.IsNotFound(err) {
		return nil, err
	}
	return left, nil
}

// removeLeftovers deletes through the contract what k3d failed to delete, so
// that one failing test does not leave work for the next.
func removeLeftovers(ctx context.Context, t testing.TB, rt backends.Runtime, cluster string) {
	nodes, _ := rt.ListNodes(ctx, clusterSelector(cluster))
	for _, n := range nodes {
		if err := rt.DeleteNode(ctx, n.Name); err != nil && !backends.IsNotFound(err) {
			t.Logf("cleanup: delete node %s: %v", n.Name, err)
		}
	}
	nets, _ := rt.ListNetworks(ctx, clusterSelector(cluster))
	names := []string{"k3d-" + cluster}
	for _, n := range nets {
		names = append(names, n.Name)
	}
	for _, n := range names {
		if err := rt.DeleteNetwork(ctx, n); err != nil && !backends.IsNotFound(err) {
			t.Logf("cleanup: delete network %s: %v", n, err)
		}
	}
	vols, _ := rt.ListVolumes(ctx, clusterSelector(cluster))
	names = []string{"k3d-" + cluster + "-images"}
	for _, v := range vols {
		names = append(names, v.Name)
	}
	for _, v := range names {
		if err := rt.DeleteVolume(ctx, v); err != nil && !backends.IsNotFound(err) {
			t.Logf("cleanup: delete volume %s: %v", v, err)
		}
	}
}

// clusterNodes lists a cluster's nodes through the contract, by role.
func clusterNodes(ctx context.Context, t testing.TB, rt backends.Runtime, cluster string) map[string][]backends.Node {
	t.Helper()
	nodes, err := rt.ListNodes(ctx, clusterSelector(cluster))
	if err != nil {
		t.Fatalf("list nodes of cluster %s: %v", cluster, err)
	}
	byRole := map[string][]backends.Node{}
	for _, n := range nodes {
		role := n.Labels["k3d.role"]
		byRole[role] = append(byRole[role], n)
	}
	return byRole
}

// nodeNames are the names of nodes, sorted.
func nodeNames(nodes []backends.Node) []string {
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	return names
}
