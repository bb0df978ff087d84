package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"sync"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/loadbalancer"
)

// floorPlan is a cluster's objects exactly as k3d made them, read back through
// the contract, so that the benchmark's floor creates the same containers
// directly: the same image, command, env, labels, ports, mounts, networks,
// privileges and load balancer configuration.
type floorPlan struct {
	cluster string
	network backends.NetworkSpec
	volumes []backends.VolumeSpec
	nodes   []floorNode
}

type floorNode struct {
	spec backends.NodeSpec
	role string
	// files are copied into the node before it starts (the load balancer's
	// configuration), keyed by absolute path.
	files map[string][]byte
}

// readyLines are what k3s prints when a node is up, by k3d.role.
var readyLines = map[string]string{
	"server": "k3s is up and running",
	"agent":  "Successfully registered node",
}

// anonymousVolume matches the random names runtimes give anonymous volumes,
// which the runtime makes again by itself from the image.
var anonymousVolume = regexp.MustCompile(`^[0-9a-f]{64}$`)

// capturePlan reads cluster's objects through the contract.
func capturePlan(ctx context.Context, rt backends.Runtime, cluster string) (floorPlan, error) {
	p := floorPlan{cluster: cluster}
	netName := "k3d-" + cluster
	nodes, err := rt.ListNodes(ctx, clusterSelector(cluster))
	if err != nil {
		return p, fmt.Errorf("list nodes of %s: %w", cluster, err)
	}
	if len(nodes) == 0 {
		return p, fmt.Errorf("cluster %s has no nodes", cluster)
	}
	if len(nodes[0].Networks) > 0 {
		netName = nodes[0].Networks[0].Network
	}
	net, err := rt.InspectNetwork(ctx, netName)
	if err != nil {
		return p, fmt.Errorf("inspect network of %s: %w", cluster, err)
	}
	p.network = backends.NetworkSpec{Name: net.Name, Labels: net.Labels}
	vols, err := rt.ListVolumes(ctx, clusterSelector(cluster))
	if err != nil {
		return p, fmt.Errorf("list volumes of %s: %w", cluster, err)
	}
	for _, v := range vols {
		p.volumes = append(p.volumes, backends.VolumeSpec{Name: v.Name, Labels: v.Labels})
	}
	for _, n := range nodes {
		fn := floorNode{role: n.Labels["k3d.role"], spec: nodeSpecOf(n)}
		if fn.role == "loadbalancer" {
			file := path.Join(loadbalancer.ConfigDir, loadbalancer.ConfigFile)
			b, err := readAll(ctx, rt, n.Name, file)
			if err != nil {
				return p, err
			}
			fn.files = map[string][]byte{file: b}
		}
		p.nodes = append(p.nodes, fn)
	}
	return p, nil
}

// nodeSpecOf turns an inspected node back into the spec that creates it; the
// runtime picks the host ports again.
func nodeSpecOf(n backends.Node) backends.NodeSpec {
	spec := backends.NodeSpec{
		Name: n.Name, Hostname: n.Hostname, Image: n.Image, Env: n.Env, Labels: n.Labels,
		Privileged: n.Privileged, RestartPolicy: n.RestartPolicy, MemoryLimit: n.MemoryLimit,
	}
	if len(n.Cmd) > 0 {
		spec.Entrypoint, spec.Cmd = n.Cmd[:1], n.Cmd[1:]
	}
	for _, p := range n.Ports {
		p.HostPort = 0
		spec.Ports = append(spec.Ports, p)
	}
	for _, m := range n.Mounts {
		if m.Type == backends.MountVolume && anonymousVolume.MatchString(m.Source) {
			continue
		}
		spec.Mounts = append(spec.Mounts, m)
	}
	for _, nn := range n.Networks {
		spec.Networks = append(spec.Networks, backends.NetworkAttachment{Network: nn.Network, Aliases: nn.Aliases})
	}
	return spec
}

// renamed is the plan for a cluster named to instead of p.cluster.
func (p floorPlan) renamed(to string) floorPlan {
	r := strings.NewReplacer(p.cluster, to).Replace
	list := func(in []string) []string {
		var out []string
		for _, s := range in {
			out = append(out, r(s))
		}
		return out
	}
	labels := func(in map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range in {
			out[k] = r(v)
		}
		return out
	}
	q := floorPlan{cluster: to, network: backends.NetworkSpec{Name: r(p.network.Name), Labels: labels(p.network.Labels)}}
	for _, v := range p.volumes {
		q.volumes = append(q.volumes, backends.VolumeSpec{Name: r(v.Name), Labels: labels(v.Labels)})
	}
	for _, n := range p.nodes {
		s := n.spec
		s.Name, s.Hostname, s.Labels = r(s.Name), r(s.Hostname), labels(s.Labels)
		s.Env, s.Entrypoint, s.Cmd = list(s.Env), list(s.Entrypoint), list(s.Cmd)
		s.Mounts = append([]backends.Mount(nil), s.Mounts...)
		for i := range s.Mounts {
			s.Mounts[i].Source = r(s.Mounts[i].Source)
		}
		s.Networks = nil
		for _, a := range n.spec.Networks {
			s.Networks = append(s.Networks, backends.NetworkAttachment{Network: r(a.Network), Aliases: list(a.Aliases)})
		}
		files := map[string][]byte{}
		for f, b := range n.files {
			files[f] = []byte(r(string(b)))
		}
		q.nodes = append(q.nodes, floorNode{spec: s, role: n.role, files: files})
	}
	return q
}

// up creates the plan's network and volumes, creates every node, starts the
// init server and then the others all at once, and waits until each k3s node
// prints its readiness line: the least any tool must do to bring the same
// cluster up (the others look the init server up by name as they start, and
// Podman's DNS stalls on a name it does not know yet).
func (p floorPlan) up(ctx context.Context, rt backends.Runtime) error {
	if _, err := rt.CreateNetwork(ctx, p.network); err != nil {
		return fmt.Errorf("floor: create network %s: %w", p.network.Name, err)
	}
	for _, v := range p.volumes {
		if _, err := rt.CreateVolume(ctx, v); err != nil {
			return fmt.Errorf("floor: create volume %s: %w", v.Name, err)
		}
	}
	err := eachNode(p.nodes, func(n floorNode) error {
		if _, err := rt.CreateNode(ctx, n.spec); err != nil {
			return fmt.Errorf("floor: create node %s: %w", n.spec.Name, err)
		}
		for file, b := range n.files {
			if err := rt.CopyToNode(ctx, n.spec.Name, path.Dir(file), tarOf(path.Base(file), b)); err != nil {
				return fmt.Errorf("floor: copy %s into %s: %w", file, n.spec.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	start := func(n floorNode) error {
		if err := rt.StartNode(ctx, n.spec.Name); err != nil {
			return fmt.Errorf("floor: start node %s: %w", n.spec.Name, err)
		}
		return nil
	}
	var rest []floorNode
	for _, n := range p.nodes {
		if n.spec.Labels["k3d.server.init"] == "true" && len(p.nodes) > 1 {
			if err := start(n); err != nil {
				return err
			}
			continue
		}
		rest = append(rest, n)
	}
	if err := eachNode(rest, start); err != nil {
		return err
	}
	return eachNode(p.nodes, func(n floorNode) error {
		if line, ok := readyLines[n.role]; ok {
			return waitLogLine(ctx, rt, n.spec.Name, line)
		}
		return nil
	})
}

// down removes every node, then the network and volumes.
func (p floorPlan) down(ctx context.Context, rt backends.Runtime) error {
	err := eachNode(p.nodes, func(n floorNode) error {
		if err := rt.DeleteNode(ctx, n.spec.Name); err != nil && !backends.IsNotFound(err) {
			return fmt.Errorf("floor: delete node %s: %w", n.spec.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := rt.DeleteNetwork(ctx, p.network.Name); err != nil && !backends.IsNotFound(err) {
		return fmt.Errorf("floor: delete network %s: %w", p.network.Name, err)
	}
	for _, v := range p.volumes {
		if err := rt.DeleteVolume(ctx, v.Name); err != nil && !backends.IsNotFound(err) {
			return fmt.Errorf("floor: delete volume %s: %w", v.Name, err)
		}
	}
	return nil
}

// eachNode runs f for every node concurrently and returns the first error.
func eachNode(nodes []floorNode, f func(floorNode) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(n)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// waitLogLine follows a node's output until a line contains want.
func waitLogLine(ctx context.Context, rt backends.Runtime, node, want string) error {
	rc, err := rt.Logs(ctx, node, backends.LogOptions{Follow: true})
	if err != nil {
		return fmt.Errorf("floor: follow logs of %s: %w", node, err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if strings.Contains(sc.Text(), want) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("floor: read logs of %s: %w", node, err)
	}
	return fmt.Errorf("floor: node %s stopped before printing %q", node, want)
}

func readAll(ctx context.Context, rt backends.Runtime, node, file string) ([]byte, error) {
	rc, err := rt.ReadFile(ctx, node, file)
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", file, node, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", file, node, err)
	}
	return b, nil
}

// tarOf is a tar stream holding one file.
func tarOf(name string, content []byte) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	_, _ = tw.Write(content)
	_ = tw.Close()
	return &buf
}
