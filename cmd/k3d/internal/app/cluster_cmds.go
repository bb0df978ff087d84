package app

import (
	"errors"

	"fmt"
	"github.com/alecthomas/kong"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/k3d/k3d/engine"
	"github.com/k3d/k3d/engine/config"
	"github.com/k3d/k3d/engine/hostadapt"
)

// CreateClusterCmd is `k3d create cluster` / `k3d cluster create`.
type CreateClusterCmd struct {
	Name   string `arg:"" optional:"" default:"${default_cluster}" help:"Cluster name (default ${default_cluster}, or the config file's metadata.name)."`
	Config string `short:"c" placeholder:"FILE" help:"A k3d.io/v1alpha5 config file (- reads standard input); flags given too override it, and list flags add to its lists."`

	Servers int    `short:"s" default:"1" aliases:"masters" help:"Number of servers."`
	Agents  int    `short:"a" default:"0" aliases:"workers" help:"Number of agents."`
	Image   string `short:"i" default:"${default_image}" help:"k3s node image; pulled (with progress) only when the runtime does not have it."`
	APIPort string `name:"api-port" placeholder:"[HOST:]PORT" help:"Where the Kubernetes API is published (default 127.0.0.1 and a free port)."`

	Ports         []string  `short:"p" name:"port" sep:"none" placeholder:"[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL][@FILTER]" help:"Publish a port, e.g. 8080:80@loadbalancer."`
	Volumes       []string  `short:"v" name:"volume" sep:"none" placeholder:"[SOURCE:]DEST[:ro|rw][@FILTER]" help:"Mount a host path or named volume into nodes."`
	Env           []string  `short:"e" name:"env" sep:"none" placeholder:"KEY=VALUE[@FILTER]" help:"Set an environment variable in nodes."`
	Labels        []string  `name:"runtime-label" aliases:"label" sep:"none" placeholder:"KEY=VALUE[@FILTER]" help:"Add a container (runtime) label to nodes; --label is the seed's name for it."`
	K3sArgs       rawValues `name:"k3s-arg" sep:"none" placeholder:"ARG[@FILTER]" help:"Add an argument to k3s, e.g. --disable=traefik@server:*."`
	K3sNodeLabels []string  `name:"k3s-node-label" sep:"none" placeholder:"KEY=VALUE[@FILTER]" help:"Add a Kubernetes node label (k3s --node-label), e.g. tier=gpu@agent:0."`
	K3sServerArgs rawValues `name:"k3s-server-arg" sep:"none" placeholder:"ARG" help:"Add an argument to k3s on every server."`
	K3sAgentArgs  rawValues `name:"k3s-agent-arg" sep:"none" placeholder:"ARG" help:"Add an argument to k3s on every agent."`

	Token         string `aliases:"secret" help:"Cluster token (default: generated)."`
	Network       string `help:"Use this network (an existing one is kept on delete) instead of k3d-NAME."`
	Subnet        string `help:"Subnet of the network k3d creates (CIDR)."`
	NoLB          bool   `name:"no-lb" help:"No load balancer: publish the API on server-0."`
	ImageVol      string `name:"image-vol" help:"Reuse an existing volume for image import (kept on delete)."`
	NoImageVolume bool   `name:"no-image-volume" help:"No shared image volume (image import still works; --keep-tarball does not)."`

	DatastoreEndpoint string `name:"datastore-endpoint" help:"External datastore for the servers (e.g. postgres://...)."`
	DatastoreCAFile   string `name:"datastore-cafile" type:"path" help:"CA certificate of the datastore (mounted read-only)."`
	DatastoreCertFile string `name:"datastore-certfile" type:"path" help:"Client certificate for the datastore (mounted read-only)."`
	DatastoreKeyFile  string `name:"datastore-keyfile" type:"path" help:"Client key for the datastore (mounted read-only)."`
	DatastoreNetwork  string `name:"datastore-network" help:"Existing network the servers also join to reach the datastore."`

	Wait       bool          `default:"true" negatable:"" help:"Wait until the cluster is ready (default true)."`
	Timeout    time.Duration `default:"0s" help:"Bound the whole create (e.g. 5m); 0 means no bound."`
	NoRollback bool          `name:"no-rollback" help:"Keep what a failed create made, for inspection."`

	KubeconfigUpdateDefault bool `name:"kubeconfig-update-default" default:"true" negatable:"" help:"Merge the cluster into the default kubeconfig (default true)."`
	KubeconfigSwitchContext bool `name:"kubeconfig-switch-context" default:"true" negatable:"" help:"Make the cluster the current kubeconfig context (default true)."`

	RegistryCreate string   `name:"registry-create" placeholder:"NAME[:HOST][:HOSTPORT]" help:"Create a registry for the cluster (deleted with it); nodes pull NAME:HOSTPORT/... through it."`
	RegistryUse    []string `name:"registry-use" sep:"none" placeholder:"k3d-NAME[:PORT]" help:"Pull through an existing registry (joined to the cluster network, kept on delete)."`
	RegistryConfig string   `name:"registry-config" placeholder:"FILE" help:"A k3s registries.yaml, laid over the mirrors k3d writes for the registries above."`

	HostAliases   []string `name:"host-alias" sep:"none" placeholder:"IP:NAME[,NAME]" help:"Add /etc/hosts entries to every node and to CoreDNS, e.g. 192.168.1.10:db.local,db (repeatable)."`
	ServersMemory string   `name:"servers-memory" help:"Memory limit per server, e.g. 1g."`
	AgentsMemory  string   `name:"agents-memory" help:"Memory limit per agent, e.g. 512m."`
	Ulimits       []string `name:"runtime-ulimit" sep:"none" placeholder:"NAME=SOFT:HARD" help:"Resource limit for every server and agent, e.g. nofile=65536:65536 (repeatable)."`
	HostPIDMode   bool     `name:"host-pid-mode" help:"Run servers and agents in the host's PID namespace."`
	GPUs          string   `name:"gpus" placeholder:"all|N" help:"Give servers and agents the host's GPUs (Docker: NVIDIA device driver; Podman, containerd: CDI spec for nvidia.com/gpu)."`
	AutoRestart   bool     `name:"auto-restart" default:"true" negatable:"" help:"Bring nodes back when they exit or the runtime restarts, unless stopped with k3d (restart policy unless-stopped; default true)."`
	LBOverrides   []string `name:"lb-config-override" sep:"none" placeholder:"KEY=VALUE" help:"Set a load balancer setting by k3d v5's dotted path: settings.workerConnections=N, settings.defaultProxyTimeout=SECONDS (repeatable)."`

	HostAdapt string `name:"host-adapt" env:"K3D_HOST_ADAPT" default:"auto" placeholder:"auto|off|-ID,..." help:"Adapt nodes to what the host cannot give them (auto); off, or turn single ones off: -userns, -cgroupv1, -oom-score-adj."`
}

func (c *CreateClusterCmd) Run(env *Env, kctx *kong.Context) error {
	start := time.Now()
	given := givenFlags(kctx)
	o, err := c.options(env, given)
	if err != nil {
		if c.Config != "" && !given["name"] {
			return fmt.Errorf("create cluster: %w", err)
		}
		return fmt.Errorf("create cluster %s: %w", c.Name, err)
	}
	c.Name = o.Name
	err = env.withEngine(env.ctx, func(e *engine.Engine) error {
		cl, err := e.CreateCluster(env.ctx, o)
		if err != nil {
			return err
		}
		env.Log.Info().Msgf("Cluster %s created in %s: API at %s", cl.Name, time.Since(start).Round(100*time.Millisecond), apiURL(cl))
		if o.UpdateKubeconfig && !o.NoWait {
			if o.SwitchContext {
				env.Log.Info().Msgf("kubectl now uses context k3d-%s: try `kubectl get nodes`", cl.Name)
			} else {
				env.Log.Info().Msgf("use it with `kubectl --context k3d-%s get nodes`", cl.Name)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create cluster %s: %w", c.Name, err)
	}
	return nil
}

// flagOptions are the options the flags alone give.
func (c *CreateClusterCmd) flagOptions() (engine.CreateClusterOptions, error) {
	disabled, err := hostadapt.ParseDisabled(c.HostAdapt)
	if err != nil {
		return engine.CreateClusterOptions{}, fmt.Errorf("--host-adapt: %w", err)
	}
	if err := checkNodeLabels(c.K3sNodeLabels); err != nil {
		return engine.CreateClusterOptions{}, err
	}
	ulimits, err := engine.ParseUlimits(c.Ulimits)
	if err != nil {
		return engine.CreateClusterOptions{}, err
	}
	var aliases []engine.HostAlias
	for _, s := range c.HostAliases {
		a, err := engine.ParseHostAlias(s)
		if err != nil {
			return engine.CreateClusterOptions{}, err
		}
		aliases = append(aliases, a)
	}
	return engine.CreateClusterOptions{
		Name:          c.Name,
		Servers:       c.Servers,
		Agents:        c.Agents,
		Image:         c.Image,
		APIPort:       c.APIPort,
		Ports:         c.Ports,
		Volumes:       absVolumes(c.Volumes),
		Env:           c.Env,
		Labels:        c.Labels,
		K3sArgs:       c.k3sArgs(),
		Token:         c.Token,
		Network:       c.Network,
		Subnet:        c.Subnet,
		ImageVolume:   c.ImageVol,
		NoImageVolume: c.NoImageVolume,
		Datastore:     engine.Datastore{Endpoint: c.DatastoreEndpoint, CAFile: c.DatastoreCAFile, CertFile: c.DatastoreCertFile, KeyFile: c.DatastoreKeyFile, Network: c.DatastoreNetwork},
		NoWait:        !c.Wait,
		Timeout:       c.Timeout,
		NoRollback:    c.NoRollback,
		ServersMemory: c.ServersMemory,
		AgentsMemory:  c.AgentsMemory,

		NoLoadBalancer:    c.NoLB,
		UpdateKubeconfig:  c.KubeconfigUpdateDefault,
		SwitchContext:     c.KubeconfigSwitchContext,
		HostAdapt:         disabled,
		Registries:        engine.ClusterRegistries{Create: c.RegistryCreate, Use: c.RegistryUse, ConfigFile: c.RegistryConfig},
		HostAliases:       aliases,
		Ulimits:           ulimits,
		HostPID:           c.HostPIDMode,
		GPUs:              c.GPUs,
		LBConfigOverrides: c.LBOverrides,
		NoAutoRestart:     !c.AutoRestart,
	}, nil
}

func (c *CreateClusterCmd) k3sArgs() []string {
	args := append([]string(nil), c.K3sArgs...)
	args = append(args, nodeLabelArgs(c.K3sNodeLabels)...)
	args = append(args, engine.K3sArgsFor(engine.RoleServer, c.K3sServerArgs)...)
	return append(args, engine.K3sArgsFor(engine.RoleAgent, c.K3sAgentArgs)...)
}

// options are the flags' options, or with --config the file's with the
// flags given on the command line on top, as k3d v5 merges them: a given
// flag replaces the file's value, a list flag adds to the file's list, and
// NAME replaces metadata.name. The file's options.runtime.name picks the
// runtime unless --runtime or K3D_RUNTIME does.
func (c *CreateClusterCmd) options(env *Env, given map[string]bool) (engine.CreateClusterOptions, error) {
	fo, err := c.flagOptions()
	if err != nil || c.Config == "" {
		return fo, err
	}
	f, err := config.Read(c.Config, env.stdin(), env.lookupEnv)
	if err != nil {
		return fo, err
	}
	o, runtimeName, err := f.Options(env.lookupEnv)
	if err != nil {
		return fo, err
	}
	if runtimeName != "" && env.Globals != nil && env.Globals.Runtime == "" && env.Getenv("K3D_RUNTIME") == "" {
		env.Globals.Runtime = runtimeName
	}
	o.Volumes = absVolumes(o.Volumes)
	o.HostAdapt = fo.HostAdapt
	override(given["name"], &o.Name, fo.Name)
	override(given["servers"], &o.Servers, fo.Servers)
	override(given["agents"], &o.Agents, fo.Agents)
	override(given["image"], &o.Image, fo.Image)
	override(given["api-port"], &o.APIPort, fo.APIPort)
	override(given["token"], &o.Token, fo.Token)
	override(given["network"], &o.Network, fo.Network)
	override(given["subnet"], &o.Subnet, fo.Subnet)
	override(given["no-lb"], &o.NoLoadBalancer, fo.NoLoadBalancer)
	override(given["image-vol"], &o.ImageVolume, fo.ImageVolume)
	override(given["no-image-volume"], &o.NoImageVolume, fo.NoImageVolume)
	override(given["wait"], &o.NoWait, fo.NoWait)
	override(given["timeout"], &o.Timeout, fo.Timeout)
	override(given["no-rollback"], &o.NoRollback, fo.NoRollback)
	override(given["kubeconfig-update-default"], &o.UpdateKubeconfig, fo.UpdateKubeconfig)
	override(given["kubeconfig-switch-context"], &o.SwitchContext, fo.SwitchContext)
	override(given["servers-memory"], &o.ServersMemory, fo.ServersMemory)
	override(given["agents-memory"], &o.AgentsMemory, fo.AgentsMemory)
	if given["registry-create"] {
		o.Registries.Create, o.Registries.CreateOptions = fo.Registries.Create, engine.RegistryOptions{}
	}
	override(given["registry-config"], &o.Registries.ConfigFile, fo.Registries.ConfigFile)
	o.Registries.Use = append(o.Registries.Use, fo.Registries.Use...)
	o.HostAliases = append(o.HostAliases, fo.HostAliases...)
	o.Ulimits = append(o.Ulimits, fo.Ulimits...)
	override(given["host-pid-mode"], &o.HostPID, fo.HostPID)
	override(given["gpus"], &o.GPUs, fo.GPUs)
	o.LBConfigOverrides = append(o.LBConfigOverrides, fo.LBConfigOverrides...)
	override(given["auto-restart"], &o.NoAutoRestart, fo.NoAutoRestart)
	// The file has no datastore section: the flags alone say it.
	o.Datastore = fo.Datastore
	o.Ports = append(o.Ports, fo.Ports...)
	o.Volumes = append(o.Volumes, fo.Volumes...)
	o.Env = append(o.Env, fo.Env...)
	o.Labels = append(o.Labels, fo.Labels...)
	o.K3sArgs = append(o.K3sArgs, fo.K3sArgs...)
	if o.Name == "" {
		o.Name = engine.DefaultClusterName
	}
	if o.Image == "" {
		o.Image = fo.Image
	}
	return o, nil
}

// override sets *dst to v when its flag was given.
func override[T any](given bool, dst *T, v T) {
	if given {
		*dst = v
	}
}

// givenFlags names the flags and arguments typed on the command line (not
// defaults, not environment): only those override a config file.
func givenFlags(kctx *kong.Context) map[string]bool {
	given := map[string]bool{}
	if kctx == nil {
		return given
	}
	for _, p := range kctx.Path {
		switch {
		case p.Flag != nil:
			given[p.Flag.Name] = true
		case p.Positional != nil:
			given[p.Positional.Name] = true
		}
	}
	return given
}

func apiURL(c engine.Cluster) string {
	host := c.API.Host
	if host == "" {
		host = c.API.HostIP
	}
	return "https://" + host + ":" + c.API.Port
}

// absVolumes makes relative host paths absolute: the flag means the path
// where k3d was run, which the runtime does not know.
func absVolumes(specs []string) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s
		if strings.HasPrefix(s, ".") {
			src, rest, _ := strings.Cut(s, ":")
			if abs, err := filepath.Abs(src); err == nil {
				if rest != "" || strings.Contains(s, ":") {
					out[i] = abs + ":" + rest
				} else {
					out[i] = abs
				}
			}
		}
		if strings.HasPrefix(s, "~/") {
			if home, err := os.UserHomeDir(); err == nil {
				out[i] = filepath.Join(home, s[2:])
			}
		}
	}
	return out
}

// DeleteClusterCmd is `k3d delete cluster`.
type DeleteClusterCmd struct {
	Names []string `predictor:"cluster" arg:"" optional:"" help:"Clusters to delete (default ${default_cluster})."`
	All   bool     `short:"a" help:"Delete every cluster."`
}

func (c *DeleteClusterCmd) Run(env *Env) error {
	names, err := clusterArgs(c.Names, c.All, "delete cluster")
	if err != nil {
		return err
	}
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		if c.All {
			if names, err = allClusterNames(env, e); err != nil {
				return fmt.Errorf("delete cluster: %w", err)
			}
			if len(names) == 0 {
				env.Log.Info().Msg("No clusters to delete")
				return nil
			}
		}
		var errs []error
		for _, n := range names {
			if err := e.DeleteCluster(env.ctx, n); err != nil {
				errs = append(errs, fmt.Errorf("delete cluster %s: %w", n, err))
				continue
			}
			env.Log.Info().Msgf("Cluster %s deleted", n)
		}
		return errors.Join(errs...)
	})
}

// clusterArgs applies the rule every multi-cluster command follows: names or
// --all, and the default cluster when neither is given.
func clusterArgs(names []string, all bool, verb string) ([]string, error) {
	if all && len(names) > 0 {
		return nil, fmt.Errorf("%s: give cluster names or --all, not both", verb)
	}
	if !all && len(names) == 0 {
		return []string{engine.DefaultClusterName}, nil
	}
	return names, nil
}

func allClusterNames(env *Env, e *engine.Engine) ([]string, error) {
	cs, err := e.ListClusters(env.ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names, nil
}

// GetClusterCmd is `k3d get cluster` / `k3d cluster list`.
type GetClusterCmd struct {
	Names     []string `predictor:"cluster" arg:"" optional:"" help:"Clusters to show (default all)."`
	NoHeaders bool     `name:"no-headers" help:"Print the table without its header line."`
	Token     bool     `help:"Also print each cluster's k3s token (a TOKEN column, clusterToken in json/yaml)."`
	Output    string   `short:"o" enum:"table,json,yaml" default:"table" help:"Output format: table, or json/yaml in k3d v5's shape."`
}

func (c *GetClusterCmd) Run(env *Env) error {
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		all, err := e.ListClusters(env.ctx)
		if err != nil {
			return fmt.Errorf("get cluster: %w", err)
		}
		clusters := all
		if len(c.Names) > 0 {
			clusters = nil
			for _, n := range c.Names {
				found := false
				for _, cl := range all {
					if cl.Name == n {
						clusters = append(clusters, cl)
						found = true
					}
				}
				if !found {
					return fmt.Errorf("get cluster: cluster %s not found: list clusters with `k3d get cluster`", n)
				}
			}
		}
		if c.Output != "table" {
			return printStructured(env.Stdout, c.Output, clusterListJSON(clusters, c.Token))
		}
		headers := []string{"NAME", "SERVERS", "AGENTS", "LOADBALANCER", "API"}
		if c.Token {
			headers = append(headers, "TOKEN")
		}
		var rows [][]string
		for _, cl := range clusters {
			s, a := cl.Servers(), cl.Agents()
			_, lb := cl.LoadBalancer()
			row := []string{cl.Name,
				fmt.Sprintf("%d/%d", engine.Running(s), len(s)),
				fmt.Sprintf("%d/%d", engine.Running(a), len(a)),
				fmt.Sprint(lb), apiPort(cl)}
			if c.Token {
				row = append(row, cl.Token)
			}
			rows = append(rows, row)
		}
		return printTable(env.Stdout, c.NoHeaders, headers, rows)
	})
}

func apiPort(c engine.Cluster) string {
	if c.API.Port == "" {
		return "-"
	}
	ip := c.API.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return ip + ":" + c.API.Port
}

// StartClusterCmd is `k3d start cluster`.
type StartClusterCmd struct {
	Names   []string      `predictor:"cluster" arg:"" optional:"" help:"Clusters to start (default ${default_cluster})."`
	All     bool          `short:"a" help:"Start every cluster."`
	Wait    bool          `default:"true" negatable:"" help:"Wait until the cluster is ready (default true)."`
	Timeout time.Duration `default:"0s" help:"Bound the start (e.g. 2m); 0 means no bound."`
}

func (c *StartClusterCmd) Run(env *Env) error {
	names, err := clusterArgs(c.Names, c.All, "start cluster")
	if err != nil {
		return err
	}
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		if c.All {
			if names, err = allClusterNames(env, e); err != nil {
				return fmt.Errorf("start cluster: %w", err)
			}
		}
		for _, n := range names {
			if err := e.StartCluster(env.ctx, n, engine.StartOptions{NoWait: !c.Wait, Timeout: c.Timeout}); err != nil {
				return fmt.Errorf("start cluster %s: %w", n, err)
			}
			env.Log.Info().Msgf("Cluster %s started", n)
		}
		return nil
	})
}

// StopClusterCmd is `k3d stop cluster`.
type StopClusterCmd struct {
	Names []string `predictor:"cluster" arg:"" optional:"" help:"Clusters to stop (default ${default_cluster})."`
	All   bool     `short:"a" help:"Stop every cluster."`
}

func (c *StopClusterCmd) Run(env *Env) error {
	names, err := clusterArgs(c.Names, c.All, "stop cluster")
	if err != nil {
		return err
	}
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		if c.All {
			if names, err = allClusterNames(env, e); err != nil {
				return fmt.Errorf("stop cluster: %w", err)
			}
		}
		for _, n := range names {
			if err := e.StopCluster(env.ctx, n); err != nil {
				return fmt.Errorf("stop cluster %s: %w", n, err)
			}
			env.Log.Info().Msgf("Cluster %s stopped", n)
		}
		return nil
	})
}

// checkNodeLabels refuses a --k3s-node-label that is not KEY=VALUE before
// its filter: k3s would fail on it only once the node starts.
func checkNodeLabels(specs []string) error {
	for _, s := range specs {
		label, _, _ := strings.Cut(s, "@")
		if k, _, ok := strings.Cut(label, "="); !ok || k == "" {
			return fmt.Errorf("--k3s-node-label %q: write KEY=VALUE[@FILTER], e.g. tier=gpu@agent:0", s)
		}
	}
	return nil
}

// nodeLabelArgs are the k3s arguments the labels become, as k3d v5 passes them.
func nodeLabelArgs(specs []string) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = "--node-label=" + s
	}
	return out
}

// editPortFlags are what cluster edit and node edit change.
type editPortFlags struct {
	PortAdd    []string `name:"port-add" sep:"none" placeholder:"[HOST:][HOSTPORT:]CONTAINERPORT[/PROTOCOL][@FILTER]" help:"Publish a port on the load balancer, e.g. 8081:80@loadbalancer (repeatable)."`
	PortDelete []string `name:"port-delete" sep:"none" placeholder:"[HOST:]HOSTPORT[/PROTOCOL]" help:"Stop publishing a host port on the load balancer (repeatable)."`
}

func (f editPortFlags) options() engine.EditClusterOptions {
	return engine.EditClusterOptions{PortAdd: f.PortAdd, PortDelete: f.PortDelete}
}

// EditClusterCmd is k3d v5's `cluster edit`: the load balancer's ports.
type EditClusterCmd struct {
	Name string `arg:"" predictor:"cluster" help:"Cluster to edit."`
	editPortFlags
}

func (c *EditClusterCmd) Run(env *Env) error {
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		if err := e.EditCluster(env.ctx, c.Name, c.options()); err != nil {
			return fmt.Errorf("edit cluster %s: %w", c.Name, err)
		}
		env.Log.Info().Msgf("Cluster %s edited", c.Name)
		return nil
	})
}
