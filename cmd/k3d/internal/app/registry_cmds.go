package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/k3d/k3d/engine"
)

// RegistryNounCmd is `k3d registry ...` (k3d v5's form).
type RegistryNounCmd struct {
	Create CreateRegistryCmd `cmd:"" help:"Create a registry."`
	Delete DeleteRegistryCmd `cmd:"" aliases:"rm" help:"Delete registries."`
	List   GetRegistryCmd    `cmd:"" aliases:"ls,get" help:"List registries."`
	Start  StartRegistryCmd  `cmd:"" help:"Start registries."`
	Stop   StopRegistryCmd   `cmd:"" help:"Stop registries (their images are kept)."`
}

// CreateRegistryCmd is `k3d registry create` and `k3d create registry`.
type CreateRegistryCmd struct {
	Name             string   `arg:"" optional:"" default:"registry" help:"Registry name; the node is k3d-NAME (default registry)."`
	Image            string   `short:"i" placeholder:"IMAGE" help:"Registry image, e.g. registry:2 (default: k3d's own, built locally from k3d-registry)."`
	Port             string   `short:"p" default:"random" placeholder:"[HOST:]HOSTPORT" help:"Where the registry is published on the host (default a free port on all addresses)."`
	Volumes          []string `short:"v" name:"volume" sep:"none" placeholder:"SOURCE:DEST" help:"Mount a host path or named volume into the registry node."`
	DefaultNetwork   string   `name:"default-network" placeholder:"NETWORK" help:"Network the registry joins first (default k3d-registries, created when missing)."`
	ProxyRemoteURL   string   `name:"proxy-remote-url" placeholder:"URL" help:"Make the registry a pull-through cache of this registry."`
	ProxyUsername    string   `name:"proxy-username" help:"User name for the proxied registry."`
	ProxyPassword    string   `name:"proxy-password" help:"Password for the proxied registry."`
	DeleteEnabled    bool     `name:"delete-enabled" help:"Let clients delete images."`
	EnforcePortMatch bool     `name:"enforce-port-match" help:"Listen inside the node on the host port too (default 5000)."`
	NoHelp           bool     `name:"no-help" help:"Do not print how to use the registry."`
}

func (c *CreateRegistryCmd) Run(env *Env) error {
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		r, err := e.CreateRegistry(env.ctx, engine.RegistryOptions{
			Name: c.Name, Image: c.Image, Port: c.Port, Volumes: c.Volumes, Network: c.DefaultNetwork,
			Proxy:         engine.RegistryProxy{RemoteURL: c.ProxyRemoteURL, Username: c.ProxyUsername, Password: c.ProxyPassword},
			DeleteEnabled: c.DeleteEnabled, EnforcePortMatch: c.EnforcePortMatch,
		})
		if err != nil {
			return fmt.Errorf("create registry %s: %w", engine.RegistryNodeName(c.Name), err)
		}
		env.Log.Info().Msgf("Registry %s created, pushes go to %s", r.Name, r.Pushes())
		if !c.NoHelp {
			fmt.Fprintf(env.Stdout, registryHelp, r.External(), r.Pushes(), r.Pushes(), r.External())
		}
		return nil
	})
}

// registryHelp is k3d v5's text after create, with the address a push from
// this host reaches (the registry's name resolves only inside its networks
// unless the host maps it, as *.localhost names are).
const registryHelp = `# You can now use the registry like this (example):
# 1. create a new cluster that uses this registry
k3d cluster create --registry-use %s

# 2. tag an existing local image to be pushed to the registry
docker tag nginx:latest %s/mynginx:v0.1

# 3. push that image to the registry
docker push %s/mynginx:v0.1

# 4. run a pod that uses this image
kubectl run mynginx --image %s/mynginx:v0.1
`

// DeleteRegistryCmd is `k3d registry delete` and `k3d delete registry`.
type DeleteRegistryCmd struct {
	Names []string `predictor:"registry" arg:"" optional:"" help:"Registries to delete (NAME or k3d-NAME)."`
	All   bool     `short:"a" help:"Delete every registry."`
	Force bool     `help:"Delete registries that clusters still pull through."`
}

func (c *DeleteRegistryCmd) Run(env *Env) error {
	switch {
	case c.All && len(c.Names) > 0:
		return fmt.Errorf("delete registry: give registry names or --all, not both")
	case !c.All && len(c.Names) == 0:
		return fmt.Errorf("delete registry: name the registries to delete (see `k3d registry list`), or give --all")
	}
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		names := c.Names
		if c.All {
			regs, err := e.ListRegistries(env.ctx)
			if err != nil {
				return fmt.Errorf("delete registry --all: %w", err)
			}
			names = nil
			for _, r := range regs {
				names = append(names, r.Name)
			}
		}
		var errs []error
		for _, n := range names {
			if err := e.DeleteRegistry(env.ctx, n, c.Force); err != nil {
				errs = append(errs, fmt.Errorf("delete registry %s: %w", engine.RegistryNodeName(n), err))
				continue
			}
			env.Log.Info().Msgf("Registry %s deleted", engine.RegistryNodeName(n))
		}
		return errors.Join(errs...)
	})
}

// GetRegistryCmd is `k3d registry list` and `k3d get registry`.
type GetRegistryCmd struct {
	Names     []string `predictor:"registry" arg:"" optional:"" help:"Registries to show (default all)."`
	NoHeaders bool     `name:"no-headers" help:"Print the table without its header line."`
	Output    string   `short:"o" enum:"table,json,yaml" default:"table" help:"Output format: table, or json/yaml in k3d v5's shape (its nodes)."`
}

func (c *GetRegistryCmd) Run(env *Env) error {
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		regs, err := e.ListRegistries(env.ctx, c.Names...)
		if err != nil {
			return fmt.Errorf("get registry: %w", err)
		}
		if c.Output != "table" {
			nodes := make([]engine.Node, len(regs))
			for i, r := range regs {
				nodes[i] = r.Node
			}
			return printStructured(env.Stdout, c.Output, nodeListJSON(nodes))
		}
		var rows [][]string
		for _, r := range regs {
			cluster := r.Cluster
			if cluster == "" {
				cluster = "*"
			}
			rows = append(rows, []string{r.Name, string(r.Role), cluster, string(r.Status)})
		}
		return printTable(env.Stdout, c.NoHeaders, []string{"NAME", "ROLE", "CLUSTER", "STATUS"}, rows)
	})
}

// StartRegistryCmd is `k3d registry start` and `k3d start registry`.
type StartRegistryCmd struct {
	Names []string `predictor:"registry" arg:"" help:"Registries to start."`
}

func (c *StartRegistryCmd) Run(env *Env) error {
	return forEachRegistry(env, c.Names, "start", func(ctx context.Context, e *engine.Engine, n string) error { return e.StartRegistry(ctx, n) })
}

// StopRegistryCmd is `k3d registry stop` and `k3d stop registry`.
type StopRegistryCmd struct {
	Names []string `predictor:"registry" arg:"" help:"Registries to stop."`
}

func (c *StopRegistryCmd) Run(env *Env) error {
	return forEachRegistry(env, c.Names, "stop", func(ctx context.Context, e *engine.Engine, n string) error { return e.StopRegistry(ctx, n) })
}

func forEachRegistry(env *Env, names []string, verb string, fn func(context.Context, *engine.Engine, string) error) error {
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		var errs []error
		for _, n := range names {
			if err := fn(env.ctx, e, n); err != nil {
				errs = append(errs, fmt.Errorf("%s registry %s: %w", verb, engine.RegistryNodeName(n), err))
			}
		}
		return errors.Join(errs...)
	})
}

func registryNames(ctx context.Context, e *engine.Engine) ([]string, error) {
	regs, err := e.ListRegistries(ctx)
	names := make([]string, 0, len(regs))
	for _, r := range regs {
		names = append(names, r.Name)
	}
	return names, err
}

// registryExecutable is k3d-registry next to k3d (where make install and
// the release archive put it), or "" when it is not there.
func registryExecutable(k3dExe string) string {
	if k3dExe == "" {
		return ""
	}
	p := filepath.Join(filepath.Dir(k3dExe), "k3d-registry")
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		return ""
	}
	return p
}
