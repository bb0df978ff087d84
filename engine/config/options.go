package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine"
	"github.com/k3d/k3d/engine/flagspec"
	"github.com/k3d/k3d/engine/loadbalancer"
	"github.com/k3d/k3d/engine/nodefilter"
)

// unsupported are the fields whose feature is not built yet: a file that sets
// one is refused, never half applied.
var unsupported = []struct {
	path []string
	why  string
}{
	{[]string{"manifests"}, "inline manifests (use files: with destination k3s-manifests/NAME.yaml)"},
	{[]string{"options", "k3d", "nodeHookActions"}, "node hook actions"},
}

// checkUnsupported refuses a file that asks for a feature not built yet. A
// field set to its zero value (false, [], "") asks for nothing.
func (f *File) checkUnsupported() error {
	for _, u := range unsupported {
		n, _ := f.lookup(u.path)
		if n == nil || empty(n) {
			continue
		}
		return f.errorf(u.path, "not supported yet (%s); remove it to create the cluster without it", u.why)
	}
	return nil
}

func empty(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value == "" || n.Value == "false" || n.Tag == "!!null"
	case yaml.SequenceNode, yaml.MappingNode:
		return len(n.Content) == 0
	}
	return false
}

// Options turns the file into the options the equivalent flags give, and
// returns the runtime it names (options.runtime.name, "" for none). Every
// spec and node filter is checked here, so an error names its line.
func (f *File) Options(lookupEnv func(string) (string, bool)) (engine.CreateClusterOptions, string, error) {
	s := f.Simple
	o := engine.CreateClusterOptions{
		Name:              s.Metadata.Name,
		Servers:           1,
		Image:             s.Image,
		Network:           s.Network,
		Subnet:            s.Subnet,
		Token:             s.Token,
		NoLoadBalancer:    s.Options.K3d.DisableLoadbalancer,
		NoImageVolume:     s.Options.K3d.DisableImageVolume,
		NoRollback:        s.Options.K3d.DisableRollback,
		ServersMemory:     s.Options.Runtime.ServersMemory,
		AgentsMemory:      s.Options.Runtime.AgentsMemory,
		HostPID:           s.Options.Runtime.HostPidMode,
		GPUs:              s.Options.Runtime.GPURequest,
		LBConfigOverrides: s.Options.K3d.Loadbalancer.ConfigOverrides,
		UpdateKubeconfig:  orTrue(s.Options.Kubeconfig.UpdateDefaultKubeconfig),
		SwitchContext:     orTrue(s.Options.Kubeconfig.SwitchCurrentContext),
		NoWait:            !orTrue(s.Options.K3d.Wait),
	}
	if s.Servers != nil {
		o.Servers = *s.Servers
	}
	if s.Agents != nil {
		o.Agents = *s.Agents
	}
	if o.Subnet == "auto" {
		o.Subnet = "" // k3d's "pick a free one" is what no subnet does here
	}
	if t := s.Options.K3d.Timeout; t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d < 0 {
			return o, "", f.errorf([]string{"options", "k3d", "timeout"}, "%q is not a duration such as 90s or 5m", t)
		}
		o.Timeout = d
	}
	var err error
	if o.APIPort, err = f.apiPort(); err != nil {
		return o, "", err
	}

	specs := func(field []string, items []specItem, check func(string) error) ([]string, error) {
		var out []string
		for i, it := range items {
			at := append(append([]string(nil), field...), strconv.Itoa(i))
			if err := check(it.value); err != nil {
				return nil, f.errorf(append(at, it.valueKey), "%v", err)
			}
			chain, err := f.filterChain(at, it.filters)
			if err != nil {
				return nil, err
			}
			out = append(out, joinSpec(it.value, chain))
		}
		return out, nil
	}
	var ports, vols, envs, labels, args, nodeLabels []specItem
	for _, p := range s.Ports {
		ports = append(ports, specItem{p.Port, "port", p.NodeFilters})
	}
	for _, v := range s.Volumes {
		vols = append(vols, specItem{v.Volume, "volume", v.NodeFilters})
	}
	for _, e := range s.Env {
		envs = append(envs, specItem{e.EnvVar, "envVar", e.NodeFilters})
	}
	for _, l := range s.Options.Runtime.Labels {
		labels = append(labels, specItem{l.Label, "label", l.NodeFilters})
	}
	for _, a := range s.Options.K3s.ExtraArgs {
		args = append(args, specItem{a.Arg, "arg", a.NodeFilters})
	}
	for _, l := range s.Options.K3s.NodeLabels {
		nodeLabels = append(nodeLabels, specItem{l.Label, "label", l.NodeFilters})
	}
	if o.Ports, err = specs([]string{"ports"}, ports, func(v string) error {
		_, err := flagspec.ParsePortMappings(v)
		return err
	}); err != nil {
		return o, "", err
	}
	if o.Volumes, err = specs([]string{"volumes"}, vols, func(v string) error {
		_, err := flagspec.ParseVolume(nodefilter.Join(v, nil))
		return err
	}); err != nil {
		return o, "", err
	}
	if o.Env, err = specs([]string{"env"}, envs, func(v string) error {
		_, err := flagspec.ParseEnv(nodefilter.Join(v, nil), lookupEnv)
		return err
	}); err != nil {
		return o, "", err
	}
	if o.Labels, err = specs([]string{"options", "runtime", "labels"}, labels, func(v string) error {
		_, err := flagspec.ParseLabel(nodefilter.Join(v, nil))
		return err
	}); err != nil {
		return o, "", err
	}
	if o.K3sArgs, err = specs([]string{"options", "k3s", "extraArgs"}, args, func(v string) error {
		_, err := flagspec.ParseK3sArg(nodefilter.Join(v, nil))
		return err
	}); err != nil {
		return o, "", err
	}
	// k3s takes node labels as arguments, which is what k3d gives it too.
	labelArgs, err := specs([]string{"options", "k3s", "nodeLabels"}, nodeLabels, func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("%q is not KEY=VALUE", v)
		}
		return nil
	})
	if err != nil {
		return o, "", err
	}
	for _, a := range labelArgs {
		o.K3sArgs = append(o.K3sArgs, "--node-label="+a)
	}
	for i, nf := range s.Files {
		at := []string{"files", strconv.Itoa(i)}
		chain, err := f.filterChain(at, nf.NodeFilters)
		if err != nil {
			return o, "", err
		}
		src := nf.Source
		if !filepath.IsAbs(src) {
			// As k3d: relative to the config file, not to where k3d runs.
			src = filepath.Join(f.Dir(), src)
		}
		o.Files = append(o.Files, engine.File{Source: src, Destination: nf.Destination, Filters: chain})
	}
	o.Registries = registries(s.Registries)
	for i, u := range s.Options.Runtime.Ulimits {
		o.Ulimits = append(o.Ulimits, backends.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
		if err := backends.CheckUlimits(o.Ulimits); err != nil {
			return o, "", f.errorf([]string{"options", "runtime", "ulimits", strconv.Itoa(i)}, "%v", err)
		}
	}
	if _, err := backends.GPUCount(s.Options.Runtime.GPURequest); err != nil {
		return o, "", f.errorf([]string{"options", "runtime", "gpuRequest"}, "%v", err)
	}
	var lb loadbalancer.Settings
	for i, kv := range o.LBConfigOverrides {
		if err := lb.ApplyOverride(kv); err != nil {
			return o, "", f.errorf([]string{"options", "k3d", "loadbalancer", "configOverrides", strconv.Itoa(i)}, "%v", err)
		}
	}
	for i, h := range s.HostAliases {
		if _, err := netip.ParseAddr(h.IP); err != nil {
			return o, "", f.errorf([]string{"hostAliases", strconv.Itoa(i), "ip"}, "%q is not an IP address", h.IP)
		}
		if len(h.Hostnames) == 0 {
			return o, "", f.errorf([]string{"hostAliases", strconv.Itoa(i), "hostnames"}, "no host name given")
		}
		o.HostAliases = append(o.HostAliases, engine.HostAlias{IP: h.IP, Hostnames: h.Hostnames})
	}
	return o, s.Options.Runtime.Name, nil
}

// registries maps registries: to the engine's options: create as the
// --registry-create spec NAME[:HOST][:HOSTPORT] (":" alone for k3d's default
// name and a free port), config as inline registries.yaml.
func registries(r Registries) engine.ClusterRegistries {
	out := engine.ClusterRegistries{Use: r.Use, Config: r.Config}
	if c := r.Create; c != nil {
		spec := c.Name + ":"
		switch {
		case c.Host != "" && c.HostPort != "":
			spec += c.Host + ":" + c.HostPort
		case c.Host != "":
			spec += c.Host + ":random"
		default:
			spec += c.HostPort
		}
		out.Create = spec
		out.CreateOptions = engine.RegistryOptions{
			Image:   c.Image,
			Volumes: c.Volumes,
			Proxy:   engine.RegistryProxy{RemoteURL: c.Proxy.RemoteURL, Username: c.Proxy.Username, Password: c.Proxy.Password},
		}
	}
	return out
}

// specItem is one list entry: its value, the value's key, and its filters.
type specItem struct {
	value    string
	valueKey string
	filters  []string
}

// filterChain checks each of an entry's nodeFilters and joins them as one
// chain, the form a flag's @FILTER takes.
func (f *File) filterChain(at []string, filters []string) (string, error) {
	for j, nf := range filters {
		if _, err := nodefilter.Parse(nf); err != nil {
			return "", f.errorf(append(append([]string(nil), at...), "nodeFilters", strconv.Itoa(j)), "%v", err)
		}
	}
	return strings.Join(filters, ";"), nil
}

// joinSpec writes value@chain as a flag would, escaping any '@' in value.
func joinSpec(value, chain string) string {
	if chain == "" {
		return nodefilter.Join(value, nil)
	}
	return nodefilter.Join(value, nodefilter.MustParse(chain))
}

// apiPort writes kubeAPI as --api-port's [HOST:][HOST_IP:]PORT.
func (f *File) apiPort() (string, error) {
	a := f.Simple.KubeAPI
	if a.Host == "" && a.HostIP == "" && a.HostPort == "" {
		return "", nil
	}
	port := a.HostPort
	if port == "" {
		port = "random"
	}
	if strings.Contains(a.HostIP, ":") || strings.Contains(a.Host, ":") {
		return "", f.errorf([]string{"kubeAPI"}, "IPv6 addresses are not supported for the API: use an IPv4 address or a name")
	}
	parts := []string{}
	if a.Host != "" {
		parts = append(parts, a.Host)
	}
	if a.HostIP != "" {
		parts = append(parts, a.HostIP)
	}
	return strings.Join(append(parts, port), ":"), nil
}

func orTrue(b *bool) bool { return b == nil || *b }
