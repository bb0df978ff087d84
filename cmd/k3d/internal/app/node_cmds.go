package app

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/k3d/k3d/engine"
	"github.com/k3d/k3d/engine/hostadapt"
)

// CreateNodeCmd is `k3d create node` / `k3d node create`.
type CreateNodeCmd struct {
	Name        string        `arg:"" help:"Base name: nodes are called k3d-NAME-0, k3d-NAME-1, ..."`
	Cluster     string        `predictor:"cluster" short:"c" default:"${default_cluster}" help:"Cluster to add the nodes to, or the URL of a k3s server elsewhere (https://HOST:6443) for agents to join with --token."`
	Token       string        `help:"The cluster's token, to join a cluster given by URL (k3d cluster list NAME --token prints it)."`
	Role        string        `default:"agent" enum:"server,agent,master,worker" help:"server or agent."`
	Replicas    int           `default:"1" help:"How many nodes to add."`
	Image       string        `short:"i" help:"k3s image (default: the image of the cluster's nodes); pulled only when the runtime does not have it."`
	Memory      string        `help:"Memory limit per node, e.g. 1g."`
	K3sArgs     rawValues     `name:"k3s-arg" sep:"none" placeholder:"ARG" help:"Add an argument to the nodes' k3s."`
	K3sLabels   []string      `name:"k3s-node-label" sep:"none" placeholder:"KEY=VALUE" help:"Add a Kubernetes node label (k3s --node-label)."`
	Env         []string      `short:"e" name:"env" sep:"none" placeholder:"KEY=VALUE" help:"Set an environment variable in the nodes."`
	Labels      []string      `name:"runtime-label" aliases:"label" sep:"none" placeholder:"KEY=VALUE" help:"Add a container (runtime) label to the nodes."`
	Ulimits     []string      `name:"runtime-ulimit" sep:"none" placeholder:"NAME=SOFT:HARD" help:"Resource limit for the nodes, e.g. nofile=65536:65536 (default: the cluster's)."`
	Wait        bool          `default:"true" negatable:"" help:"Wait until the nodes are ready (default true)."`
	AutoRestart bool          `name:"auto-restart" negatable:"" help:"Bring the nodes back when they exit or the runtime restarts (default: as the cluster's nodes)."`
	Timeout     time.Duration `default:"0s" help:"Bound the create (e.g. 2m); 0 means no bound."`
	HostAdapt   string        `name:"host-adapt" env:"K3D_HOST_ADAPT" default:"auto" placeholder:"auto|off|-ID,..." help:"Adapt nodes to the host (auto); off, or -userns, -cgroupv1, -oom-score-adj."`
}

func (c *CreateNodeCmd) Run(env *Env, kctx *kong.Context) error {
	role, _ := engine.ParseRole(c.Role)
	var autoRestart *bool
	if givenFlags(kctx)["auto-restart"] {
		autoRestart = &c.AutoRestart
	}
	disabled, err := hostadapt.ParseDisabled(c.HostAdapt)
	if err != nil {
		return fmt.Errorf("create node %s: --host-adapt: %w", c.Name, err)
	}
	for _, l := range c.K3sLabels {
		if strings.Contains(l, "@") {
			return fmt.Errorf("create node %s: --k3s-node-label %q: node create takes no filter (the label goes on every new node)", c.Name, l)
		}
	}
	if err := checkNodeLabels(c.K3sLabels); err != nil {
		return fmt.Errorf("create node %s: %w", c.Name, err)
	}
	ulimits, err := engine.ParseUlimits(c.Ulimits)
	if err != nil {
		return fmt.Errorf("create node %s: %w", c.Name, err)
	}
	k3sArgs := append(append([]string(nil), c.K3sArgs...), nodeLabelArgs(c.K3sLabels)...)
	err = env.withEngine(env.ctx, func(e *engine.Engine) error {
		nodes, err := e.CreateNodes(env.ctx, engine.CreateNodeOptions{
			Name: c.Name, Cluster: c.Cluster, Role: role, Replicas: c.Replicas, Image: c.Image,
			Memory: c.Memory, NoWait: !c.Wait, Timeout: c.Timeout, K3sArgs: k3sArgs, Env: c.Env, Labels: c.Labels,
			Ulimits: ulimits, HostAdapt: disabled, Token: c.Token,
			AutoRestart: autoRestart,
		})
		if err != nil {
			return err
		}
		var names []string
		for _, n := range nodes {
			names = append(names, n.Name)
		}
		env.Log.Info().Msgf("Added %s to cluster %s", strings.Join(names, ", "), c.Cluster)
		return nil
	})
	if err != nil {
		return fmt.Errorf("create node %s: %w", c.Name, err)
	}
	return nil
}

// DeleteNodeCmd is `k3d delete node`.
type DeleteNodeCmd struct {
	Names   []string `predictor:"node" arg:"" optional:"" help:"Nodes to delete (full names, e.g. k3d-dev-agent-1)."`
	All     bool     `short:"a" help:"Delete every k3d node (of --cluster, if given)."`
	Cluster string   `predictor:"cluster" short:"c" help:"With --all: only this cluster's nodes."`
}

func (c *DeleteNodeCmd) Run(env *Env) error {
	switch {
	case c.All && len(c.Names) > 0:
		return fmt.Errorf("delete node: give node names or --all, not both")
	case !c.All && len(c.Names) == 0:
		return fmt.Errorf("delete node: name the nodes to delete (see `k3d get node`), or give --all")
	case c.Cluster != "" && !c.All:
		return fmt.Errorf("delete node: --cluster goes with --all; to delete named nodes just name them")
	}
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		if c.All {
			names, err := e.DeleteAllNodes(env.ctx, c.Cluster)
			if err != nil {
				return fmt.Errorf("delete node --all: %w", err)
			}
			env.Log.Info().Msgf("Deleted %d nodes", len(names))
			return nil
		}
		var errs []error
		for _, n := range c.Names {
			if err := e.DeleteNode(env.ctx, n); err != nil {
				errs = append(errs, fmt.Errorf("delete node %s: %w", n, err))
				continue
			}
			env.Log.Info().Msgf("Node %s deleted", n)
		}
		return errors.Join(errs...)
	})
}

// GetNodeCmd is `k3d get node` / `k3d node list`.
type GetNodeCmd struct {
	Names     []string `predictor:"node" arg:"" optional:"" help:"Nodes to show (default all)."`
	NoHeaders bool     `name:"no-headers" help:"Print the table without its header line."`
	Output    string   `short:"o" enum:"table,json,yaml" default:"table" help:"Output format: table, or json/yaml in k3d v5's shape."`
}

func (c *GetNodeCmd) Run(env *Env) error {
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		nodes, err := e.ListNodes(env.ctx)
		if err != nil {
			return fmt.Errorf("get node: %w", err)
		}
		if len(c.Names) > 0 {
			var picked []engine.Node
			for _, want := range c.Names {
				found := false
				for _, n := range nodes {
					if n.Name == want {
						picked = append(picked, n)
						found = true
					}
				}
				if !found {
					return fmt.Errorf("get node: node %s not found: list nodes with `k3d get node`", want)
				}
			}
			nodes = picked
		}
		if c.Output != "table" {
			return printStructured(env.Stdout, c.Output, nodeListJSON(nodes))
		}
		var rows [][]string
		for _, n := range nodes {
			rows = append(rows, []string{n.Name, string(n.Role), n.Cluster, string(n.Status)})
		}
		return printTable(env.Stdout, c.NoHeaders, []string{"NAME", "ROLE", "CLUSTER", "STATUS"}, rows)
	})
}

// StartNodeCmd is `k3d start node`.
type StartNodeCmd struct {
	Names   []string      `predictor:"node" arg:"" help:"Nodes to start."`
	Wait    bool          `default:"true" negatable:"" help:"Wait until the nodes are ready (default true)."`
	Timeout time.Duration `default:"0s" help:"Bound the start; 0 means no bound."`
}

func (c *StartNodeCmd) Run(env *Env) error {
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		for _, n := range c.Names {
			if err := e.StartNode(env.ctx, n, engine.StartOptions{NoWait: !c.Wait, Timeout: c.Timeout}); err != nil {
				return fmt.Errorf("start node %s: %w", n, err)
			}
			env.Log.Info().Msgf("Node %s started", n)
		}
		return nil
	})
}

// StopNodeCmd is `k3d stop node`.
type StopNodeCmd struct {
	Names []string `predictor:"node" arg:"" help:"Nodes to stop."`
}

func (c *StopNodeCmd) Run(env *Env) error {
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		for _, n := range c.Names {
			if err := e.StopNode(env.ctx, n); err != nil {
				return fmt.Errorf("stop node %s: %w", n, err)
			}
			env.Log.Info().Msgf("Node %s stopped", n)
		}
		return nil
	})
}

// EditNodeCmd is k3d v5's `node edit`: a load balancer's ports.
type EditNodeCmd struct {
	Name string `arg:"" predictor:"node" help:"Node to edit (a cluster's load balancer)."`
	editPortFlags
}

func (c *EditNodeCmd) Run(env *Env) error {
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		if err := e.EditNode(env.ctx, c.Name, c.options()); err != nil {
			return fmt.Errorf("edit node %s: %w", c.Name, err)
		}
		env.Log.Info().Msgf("Node %s edited", engine.ObjectName(c.Name))
		return nil
	})
}
