package podman

import (
	"context"
	"fmt"
	"net"

	"github.com/containers/podman/v4/pkg/bindings/containers"
	"github.com/containers/podman/v4/pkg/bindings/images"
	"github.com/containers/podman/v4/pkg/bindings/volumes"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/imagelabels"
)

// CreateNode creates a node without starting it. It never pulls: the image
// must be present. What a rootless service cannot give the node is refused
// before anything is made; whatever was made before a later failure (named
// volumes it created, the container) is removed again.
func (r *Runtime) CreateNode(ctx context.Context, spec backends.NodeSpec) (backends.Node, error) {
	n, err := r.createNode(ctx, spec)
	if err != nil {
		return backends.Node{}, fmt.Errorf("create node %s: %w", spec.Name, err)
	}
	return n, nil
}

func (r *Runtime) createNode(ctx context.Context, spec backends.NodeSpec) (node backends.Node, err error) {
	s, err := buildSpec(spec)
	if err != nil {
		return backends.Node{}, err
	}
	f, err := r.facts(ctx)
	if err != nil {
		return backends.Node{}, err
	}
	inheritRlimits(s, spec.Ulimits, r.peer.pid)
	if err := f.refuse(spec); err != nil {
		return backends.Node{}, err
	}
	actx, err := r.api(ctx)
	if err != nil {
		return backends.Node{}, err
	}
	// The service would name a missing image only vaguely; asking first
	// gives the contract's error naming it, and the image's labels, which
	// Podman merges into the node's.
	img, err := images.GetImage(actx, spec.Image, nil)
	if err != nil {
		return backends.Node{}, r.typed(err, imageObj(spec.Image), conflictIsExists)
	}
	if img.ImageData != nil {
		labels := img.Labels
		if labels == nil && img.Config != nil {
			labels = img.Config.Labels
		}
		if inherited := imagelabels.Record(labels, spec.Labels); inherited != "" {
			s.Labels[imagelabels.Key] = inherited
		}
	}
	for _, a := range spec.Networks {
		n, err := r.inspectNetwork(ctx, a.Network)
		if err != nil {
			return backends.Node{}, err
		}
		// Only the networks' aardvark-dns (at their gateways) goes into the
		// node's resolv.conf: Podman would list the host's resolvers after
		// it, and a lookup that reaches those (aardvark slow under load)
		// says a node's name does not exist. aardvark forwards every other
		// name to the host's resolvers itself.
		if gw := networkFrom(n).Gateway; n.DNSEnabled && gw != "" {
			s.DNSServers = append(s.DNSServers, net.ParseIP(gw))
		}
	}

	var made []string // volumes created here, removed again on failure
	var id string
	var madeFiles bool
	defer func() {
		if err == nil {
			return
		}
		cctx, cancel := withoutCancel(actx)
		defer cancel()
		if madeFiles {
			_ = r.files.Remove(spec.Name)
		}
		if id != "" {
			_, _ = containers.Remove(cctx, id, new(containers.RemoveOptions).WithForce(true).WithVolumes(true).WithTimeout(0))
		}
		for _, v := range made {
			_ = volumes.Remove(cctx, v, nil)
		}
	}()

	for _, m := range spec.Mounts {
		if m.Type != backends.MountVolume {
			continue
		}
		created, err := r.ensureVolume(ctx, m.Source)
		if err != nil {
			return backends.Node{}, err
		}
		if created {
			made = append(made, m.Source)
		}
	}

	if spec.MemoryLimit > 0 {
		src, err := r.files.PutMeminfo(spec.Name, spec.MemoryLimit, func() error {
			_, err := r.inspectContainer(ctx, spec.Name)
			return err
		})
		if err != nil {
			return backends.Node{}, err
		}
		madeFiles = true
		s.Mounts = append(s.Mounts, readOnlyBind(src, backends.MeminfoPath))
	}

	res, err := containers.CreateWithSpec(actx, s, nil)
	if err != nil {
		// A name clash leaves the existing node alone (id is still empty, so
		// the rollback does not touch it).
		return backends.Node{}, r.typed(err, nodeObj(spec.Name), conflictIsExists)
	}
	id = res.ID
	return r.InspectNode(ctx, spec.Name)
}

// refuse says why a rootless service cannot give a node what spec asks for,
// in words that say what to do; nil when it can.
func (f facts) refuse(spec backends.NodeSpec) error {
	if !f.info.Rootless {
		return nil
	}
	invalid := func(detail string) error { return backends.NewError(backends.ErrInvalid, nodeObj(spec.Name), detail) }
	for _, p := range spec.Ports {
		if p.HostPort != 0 && int(p.HostPort) < f.portStart {
			return invalid(fmt.Sprintf("rootless Podman cannot publish host port %d: ports below %d need root; use a port >= %d, or allow it with: sudo sysctl net.ipv4.ip_unprivileged_port_start=%d",
				p.HostPort, f.portStart, f.portStart, p.HostPort))
		}
	}
	if spec.MemoryLimit > 0 && f.noMemory != "" {
		return invalid(f.noMemory)
	}
	if f.missing != nil {
		return f.missing
	}
	return nil
}

// ensureVolume creates a named volume a node mounts if it does not exist yet,
// and says whether it did; the service would create it silently, and then a
// failed create could not tell which volumes to remove.
func (r *Runtime) ensureVolume(ctx context.Context, name string) (bool, error) {
	actx, err := r.api(ctx)
	if err != nil {
		return false, err
	}
	exists, err := volumes.Exists(actx, name, nil)
	if err != nil {
		return false, r.typed(err, volumeObj(name), conflictIsExists)
	}
	if exists {
		return false, nil
	}
	if _, err := r.createVolume(ctx, name, nil); err != nil {
		if backends.IsAlreadyExists(err) {
			return false, nil // made by a node created at the same time
		}
		return false, err
	}
	return true, nil
}
