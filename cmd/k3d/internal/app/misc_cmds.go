package app

import (
	"fmt"
	"strings"

	"github.com/k3d/k3d/engine"
)

// PruneCmd is `k3d prune`.
type PruneCmd struct {
	Output string `short:"o" enum:"text,json,yaml" default:"text" help:"Output format: text, json or yaml."`
}

func (c *PruneCmd) Run(env *Env) error {
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		rep, err := e.Prune(env.ctx)
		if err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		if c.Output != "text" {
			return printStructured(env.Stdout, c.Output, rep)
		}
		if len(rep.Nodes)+len(rep.Networks)+len(rep.Volumes) == 0 {
			fmt.Fprintln(env.Stdout, "Nothing to prune")
			return nil
		}
		for _, g := range []struct {
			what  string
			names []string
		}{{"node", rep.Nodes}, {"network", rep.Networks}, {"volume", rep.Volumes}} {
			for _, n := range g.names {
				fmt.Fprintf(env.Stdout, "deleted %s %s\n", g.what, n)
			}
		}
		return nil
	})
}

// CreateVolumeCmd is `k3d create volume`.
type CreateVolumeCmd struct {
	Name string `arg:"" help:"Volume name (k3d- is prepended unless present)."`
}

func (c *CreateVolumeCmd) Run(env *Env) error {
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		name, err := e.CreateVolume(env.ctx, c.Name)
		if err != nil {
			return fmt.Errorf("create volume %s: %w", c.Name, err)
		}
		fmt.Fprintf(env.Stdout, "%s\n", name)
		env.Log.Info().Msgf("Volume %s created: use it with `k3d create cluster --image-vol %s`", name, name)
		return nil
	})
}

// CreateNetworkCmd is `k3d create network`.
type CreateNetworkCmd struct {
	Name   string `arg:"" help:"Network name (k3d- is prepended unless present)."`
	Subnet string `help:"Subnet (CIDR); default: the runtime picks one."`
}

func (c *CreateNetworkCmd) Run(env *Env) error {
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		n, err := e.CreateNetwork(env.ctx, c.Name, c.Subnet)
		if err != nil {
			return fmt.Errorf("create network %s: %w", c.Name, err)
		}
		fmt.Fprintf(env.Stdout, "%s\n", n.Name)
		details := []string{}
		if n.Subnet != "" {
			details = append(details, "subnet "+n.Subnet)
		}
		env.Log.Info().Msgf("Network %s created (%s): use it with `k3d create cluster --network %s`", n.Name, strings.Join(details, ", "), n.Name)
		return nil
	})
}
