package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/kubeapi"
	"github.com/k3d/k3d/engine/registriesyaml"
)

// ClusterRegistries are the registries a cluster's nodes pull through.
type ClusterRegistries struct {
	// Create is "NAME[:HOST][:HOSTPORT]": a registry made with the cluster
	// and deleted with it (k3d-CLUSTER-registry when NAME is empty).
	Create string
	// CreateOptions tune the registry Create makes (a config file's
	// registries.create: image, proxy, volumes); Name and Port come from Create.
	CreateOptions RegistryOptions
	// Use are existing registries, "k3d-NAME[:PORT]", joined to the
	// cluster network and kept when the cluster is deleted.
	Use []string
	// ConfigFile is a k3s registries.yaml on the host; Config one given
	// inline (a config file's registries.config). Both are laid over the
	// mirrors k3d writes for the registries above.
	ConfigFile string
	Config     string
}

func (r ClusterRegistries) empty() bool {
	return r.Create == "" && len(r.Use) == 0 && r.ConfigFile == "" && r.Config == ""
}

// registriesPlan is what a create does about registries.
type registriesPlan struct {
	create *registryPlan
	use    []Registry
	// yaml is the nodes' registries.yaml; nil when there is none to write.
	yaml []byte
}

// all are the registries the cluster's nodes use, the one created first.
func (rp *registriesPlan) all() []Registry {
	var out []Registry
	if rp.create != nil {
		out = append(out, rp.create.reg)
	}
	return append(out, rp.use...)
}

func (rp *registriesPlan) release() {
	if rp != nil && rp.create != nil {
		rp.create.release()
	}
}

// planRegistries checks the registry options against the runtime: the
// registry to create must not exist and its port must be free, the ones to
// use must exist, and the registries.yaml must parse.
func (e *Engine) planRegistries(ctx context.Context, p *clusterPlan) error {
	o := p.opts.Registries
	if o.empty() {
		return nil
	}
	rp := &registriesPlan{}
	p.registries = rp
	if o.Create != "" {
		ro := o.CreateOptions
		name, port, _ := strings.Cut(o.Create, ":")
		if name == "" {
			name = "k3d-" + p.name + "-registry"
		}
		ro.Name, ro.Port, ro.Cluster, ro.Network = name, port, p.name, p.network.name
		plan, err := e.planRegistry(ctx, ro, "--registry-create")
		if err != nil {
			return err
		}
		rp.create = plan
	}
	for _, spec := range o.Use {
		name, port, _ := strings.Cut(spec, ":")
		r, err := e.GetRegistry(ctx, name)
		if err != nil {
			if backends.IsNotFound(err) {
				return notFoundf("--registry-use %s: registry %s does not exist: create it with `k3d registry create %s`, or use one `k3d registry list` shows", spec, RegistryNodeName(name), strings.TrimPrefix(RegistryNodeName(name), "k3d-"))
			}
			return fmt.Errorf("--registry-use %s: %w", spec, err)
		}
		if port != "" && port != r.HostPort && port != r.InternalPort {
			return invalidf("--registry-use %s: registry %s is published on port %s (and listens on %s in its node), not %s", spec, r.Name, r.HostPort, r.InternalPort, port)
		}
		rp.use = append(rp.use, r)
	}
	cfg := mirrors(rp.all())
	if o.ConfigFile != "" {
		b, err := os.ReadFile(o.ConfigFile)
		if err != nil {
			return invalidf("--registry-config %s: %v", o.ConfigFile, unwrapPathErr(err))
		}
		user, err := registriesyaml.Parse(b)
		if err != nil {
			return invalidf("--registry-config %s: %v", o.ConfigFile, err)
		}
		cfg = registriesyaml.Merge(cfg, user)
	}
	if o.Config != "" {
		user, err := registriesyaml.Parse([]byte(o.Config))
		if err != nil {
			return invalidf("registries.config: %v", err)
		}
		cfg = registriesyaml.Merge(cfg, user)
	}
	if !cfg.Empty() {
		b, err := cfg.Marshal()
		if err != nil {
			return fmt.Errorf("write registries.yaml: %w", err)
		}
		rp.yaml = b
	}
	return nil
}

// registryFiles is what every k3s node gets before it starts.
func (rp *registriesPlan) files() []nodeFile {
	if rp == nil || rp.yaml == nil {
		return nil
	}
	return []nodeFile{{path: registriesyaml.Path, data: rp.yaml, mode: 0o644}}
}

// createRegistries makes the cluster's own registry on the cluster network
// and joins the used ones to it, before any node starts pulling.
func (e *Engine) createRegistries(ctx context.Context, p *clusterPlan, netw backends.Network, made *created) error {
	rp := p.registries
	if rp == nil {
		return nil
	}
	if rp.create != nil {
		rp.create.network = netw.Name
		rp.create.spec.Networks = []backends.NetworkAttachment{{Network: netw.Name}}
		if err := e.createRegistry(ctx, rp.create, made); err != nil {
			return err
		}
	}
	for _, r := range rp.use {
		err := e.step(fmt.Sprintf("Connecting registry %s to network %s", r.Name, netw.Name), func() error {
			err := e.rt.ConnectNetwork(ctx, netw.Name, r.Name, nil)
			if backends.IsAlreadyExists(err) {
				return nil
			}
			if err != nil {
				return wrapf(err, "connect registry %s to network %s", r.Name, netw.Name)
			}
			made.addConnection(netw.Name, r.Name)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// LocalRegistryHosting is KEP-1755's description of a cluster's registry,
// which Tilt, ctlptl and Skaffold read from kube-public/local-registry-hosting.
type LocalRegistryHosting struct {
	Host                     string `yaml:"host" json:"host"`
	HostFromContainerRuntime string `yaml:"hostFromContainerRuntime" json:"hostFromContainerRuntime"`
	HostFromClusterNetwork   string `yaml:"hostFromClusterNetwork" json:"hostFromClusterNetwork"`
	Help                     string `yaml:"help" json:"help"`
}

const registryHelpURL = "https://k3d.io/stable/usage/registries/#using-a-local-registry"

// announceRegistry writes the LocalRegistryHosting ConfigMap for the first
// registry (the KEP describes one), as k3d v5 does. A failure is a note, as
// in k3d: the cluster works, only tools cannot discover the registry.
func (e *Engine) announceRegistry(ctx context.Context, p *clusterPlan, kubeconfig []byte) {
	if p.registries == nil {
		return
	}
	regs := p.registries.all()
	if len(regs) == 0 {
		return
	}
	if len(regs) > 1 {
		e.note(fmt.Sprintf("LocalRegistryHosting describes one registry: announcing %s", regs[0].Name))
	}
	r := regs[0]
	v1, err := yaml.Marshal(LocalRegistryHosting{
		Host: r.Pushes(), HostFromContainerRuntime: r.Internal(), HostFromClusterNetwork: r.Internal(), Help: registryHelpURL,
	})
	if err == nil {
		err = e.step("Announcing registry "+r.Name+" in kube-public/local-registry-hosting", func() error {
			c, err := kubeapi.New(kubeconfig)
			if err != nil {
				return err
			}
			return c.ApplyConfigMap(ctx, kubeapi.ConfigMap{
				Namespace: "kube-public", Name: "local-registry-hosting",
				Data: map[string]string{"localRegistryHosting.v1": string(v1)},
			})
		})
	}
	if err != nil {
		e.note(fmt.Sprintf("could not write the LocalRegistryHosting ConfigMap (tools such as Tilt will not find registry %s by themselves): %v", r.Name, err))
	}
}

// nodeRegistriesFile is the registries.yaml of a cluster's node, for nodes
// added later; nil when the node has none.
func (e *Engine) nodeRegistriesFile(ctx context.Context, node string) ([]nodeFile, error) {
	rc, err := e.rt.ReadFile(ctx, node, registriesyaml.Path)
	if backends.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapf(err, "read %s from node %s", registriesyaml.Path, node)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s from node %s: %w", registriesyaml.Path, node, err)
	}
	return []nodeFile{{path: registriesyaml.Path, data: b, mode: 0o644}}, nil
}

// clusterRegistries are the registries a cluster deletes with it (its own)
// and the others it disconnects from its network first.
func (e *Engine) clusterRegistries(ctx context.Context, c Cluster) (own, joined []Registry, err error) {
	regs, err := e.ListRegistries(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range regs {
		if r.Cluster == c.Name {
			own = append(own, r)
			continue
		}
		for _, n := range r.Networks {
			if n == c.Network && c.Network != "" {
				joined = append(joined, r)
			}
		}
	}
	return own, joined, nil
}
