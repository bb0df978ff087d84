package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"

	client "github.com/containerd/containerd"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/k3d/k3d/backends"
)

// CreateNode creates a node without starting it: its container record (with
// the backend's metadata in it), root filesystem snapshot, network namespace
// attached to its networks, published ports, and files. It never pulls.
// Whatever it made before a failure is removed again.
func (r *Runtime) CreateNode(ctx context.Context, spec backends.NodeSpec) (backends.Node, error) {
	n, err := r.createNode(ctx, spec)
	if err != nil {
		return backends.Node{}, fmt.Errorf("create node %s: %w", spec.Name, err)
	}
	return n, nil
}

func (r *Runtime) createNode(ctx context.Context, spec backends.NodeSpec) (_ backends.Node, err error) {
	if err := checkSpec(spec); err != nil {
		return backends.Node{}, err
	}
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return backends.Node{}, err
	}
	info, err := r.Info(ctx)
	if err != nil {
		return backends.Node{}, err
	}
	img, err := r.getImage(ctx, spec.Image)
	if err != nil {
		return backends.Node{}, err
	}
	if err := r.unpack(ctx, img); err != nil {
		return backends.Node{}, err
	}
	imgCfg, err := imageConfig(ctx, img)
	if err != nil {
		return backends.Node{}, fmt.Errorf("read the configuration of image %s: %w", spec.Image, err)
	}
	for _, a := range spec.Networks {
		if _, err := r.readNetwork(a.Network); err != nil {
			return backends.Node{}, err
		}
	}

	meta := nodeMeta{
		ID:            randomHex(32),
		Image:         spec.Image,
		Hostname:      spec.Hostname,
		Mounts:        spec.Mounts,
		ExtraHosts:    spec.ExtraHosts,
		Privileged:    spec.Privileged,
		RestartPolicy: spec.RestartPolicy,
		MemoryLimit:   spec.MemoryLimit,
		Ulimits:       spec.Ulimits,
		HostPID:       spec.HostPID,
		GPUs:          spec.GPUs,
	}
	if meta.Hostname == "" {
		meta.Hostname = spec.Name
	}
	if meta.RestartPolicy == "" {
		meta.RestartPolicy = backends.RestartNo
	}
	for i, a := range spec.Networks {
		at := attachment{Network: a.Network, IfName: fmt.Sprintf("eth%d", i), Aliases: a.Aliases}
		if a.IPv4 != "" {
			at.IPv4, _ = ipv4Of(a.IPv4)
			at.Static = true
		}
		meta.Networks = append(meta.Networks, at)
	}
	dir := r.root.nodeDir(spec.Name)
	anon := anonVolumes(dir, imgCfg, spec.Mounts)

	// Everything made from here on is undone on failure, newest first.
	var undo []func(context.Context)
	defer func() {
		if err == nil {
			return
		}
		cctx, cancel := withoutCancel(ctx)
		defer cancel()
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i](cctx)
		}
	}()

	meta.NetNS = r.root.netnsPath(meta.ID)
	if err := newNetNS(meta.NetNS); err != nil {
		return backends.Node{}, err
	}
	netns := meta.NetNS
	undo = append(undo, func(context.Context) { _ = removeNetNS(netns) })

	if err := r.createRecord(ctx, cli, spec, img, imgCfg, &meta, anon, info.CgroupVersion == 2, &undo); err != nil {
		return backends.Node{}, err
	}
	// The node's directory is made only now that the name is known to be
	// ours: a clash must leave the existing node's files alone.
	undo = append(undo, func(context.Context) { _ = os.RemoveAll(dir) })
	if err := writeNodeFiles(dir, meta, anon); err != nil {
		return backends.Node{}, fmt.Errorf("write node files: %w", err)
	}
	if len(anon) > 0 {
		if err := r.copyUpVolumes(ctx, spec.Name, anon); err != nil {
			return backends.Node{}, fmt.Errorf("fill anonymous volumes: %w", err)
		}
	}

	if err := r.cniLoopback(ctx, meta.ID, meta.NetNS); err != nil {
		return backends.Node{}, err
	}
	for i := range meta.Networks {
		a := meta.Networks[i]
		ports := portsFor(meta, i)
		undo = append(undo, func(ctx context.Context) { _ = r.cniDel(ctx, meta.ID, netns, a, ports) })
		ip, err := r.cniAdd(ctx, meta.ID, meta.NetNS, a, ports)
		if err != nil {
			return backends.Node{}, err
		}
		meta.Networks[i].IPv4 = ip
	}

	unlock, err := r.lock(ctx, lockState)
	if err != nil {
		return backends.Node{}, err
	}
	err = r.saveMeta(ctx, spec.Name, meta)
	if err == nil {
		err = r.syncHosts(ctx, networkNames(meta), spec.Name)
	}
	unlock()
	if err != nil {
		return backends.Node{}, err
	}
	return r.InspectNode(ctx, spec.Name)
}

// portsFor is what the node publishes through its i-th network: published
// ports go to the primary one, as with Docker.
func portsFor(meta nodeMeta, i int) []backends.PortMapping {
	if i == 0 {
		return meta.Ports
	}
	return nil
}

func networkNames(meta nodeMeta) []string {
	var out []string
	for _, a := range meta.Networks {
		out = append(out, a.Network)
	}
	return out
}

// createRecord claims the node's name: under the state lock, so that the
// host ports it picks and the named volumes it uses are seen by every other
// node created or volume deleted after it, it creates missing named volumes,
// chooses the host ports, and creates the container record.
func (r *Runtime) createRecord(ctx context.Context, cli *client.Client, spec backends.NodeSpec, img client.Image, imgCfg ocispec.ImageConfig, meta *nodeMeta, anon []anonVolume, cgroupV2 bool, undo *[]func(context.Context)) error {
	gpus, err := r.gpuEdits(spec)
	if err != nil {
		return err
	}
	unlock, err := r.lock(ctx, lockState)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := cli.ContainerService().Get(ctx, spec.Name); err == nil {
		return backends.AlreadyExists(nodeObj(spec.Name))
	} else if !errdefs.IsNotFound(err) {
		return r.typed(err, nodeObj(spec.Name))
	}
	others, err := r.listNodeRecords(ctx)
	if err != nil {
		return err
	}
	for _, m := range spec.Mounts {
		if m.Type != backends.MountVolume {
			continue
		}
		made, err := r.ensureVolume(m.Source)
		if err != nil {
			return err
		}
		if made {
			name := m.Source
			*undo = append(*undo, func(context.Context) { _ = os.RemoveAll(r.root.volumeDir(name)) })
		}
	}
	var taken []backends.PortMapping
	for _, o := range others {
		taken = append(taken, o.meta.Ports...)
	}
	if meta.Ports, err = allocatePorts(spec.Name, spec.Ports, taken); err != nil {
		return err
	}
	labels := copyLabels(spec.Labels)
	meta.EmptyLabels = splitEmptyLabels(labels)
	ext, err := meta.any()
	if err != nil {
		return err
	}
	setRestartPolicyLabel(labels, meta.RestartPolicy)
	mounts := r.nodeMounts(spec, r.root.nodeDir(spec.Name), anon)
	_, err = cli.NewContainer(ctx, spec.Name,
		client.WithImage(img),
		client.WithNewSnapshot(meta.ID, img),
		client.WithContainerLabels(labels),
		func(_ context.Context, _ *client.Client, c *containers.Container) error {
			if c.Extensions == nil {
				c.Extensions = map[string]typeurl.Any{}
			}
			c.Extensions[extensionMeta] = ext
			return nil
		},
		client.WithNewSpec(r.specOpts(spec, img, imgCfg, *meta, mounts, cgroupV2, gpus)...),
	)
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			return backends.AlreadyExists(nodeObj(spec.Name))
		}
		if errors.Is(err, context.Canceled) {
			return err
		}
		return r.typed(err, nodeObj(spec.Name))
	}
	name := spec.Name
	*undo = append(*undo, func(ctx context.Context) {
		if c, err := cli.LoadContainer(ctx, name); err == nil {
			_ = c.Delete(ctx, client.WithSnapshotCleanup)
		}
	})
	return nil
}
