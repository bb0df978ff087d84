package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/k3d/k3d/engine"
	"github.com/k3d/k3d/engine/kubeconfig"

	"sigs.k8s.io/yaml"
)

// kubeconfigPath is the file create merges into and delete cleans: the first
// entry of $KUBECONFIG, else ~/.kube/config.
func (env *Env) kubeconfigPath() (string, error) {
	home := env.Getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the kubeconfig: set HOME or KUBECONFIG: %w", err)
		}
		home = h
	}
	return kubeconfig.DefaultPath(env.Getenv, home), nil
}

// GetKubeconfigCmd is `k3d get kubeconfig` / `k3d kubeconfig get`.
type GetKubeconfigCmd struct {
	Names  []string `predictor:"cluster" arg:"" optional:"" help:"Clusters (default ${default_cluster})."`
	All    bool     `short:"a" help:"Every cluster."`
	Output string   `short:"o" default:"-" placeholder:"yaml|json|FILE" help:"Print as yaml (default) or json, or write to FILE (merged into it; ./json for a file of that name)."`
}

// printKubeconfig writes kc (YAML) to stdout in the format -o asks for; json
// is what ` + "`kubectl config view -o json`" + ` prints.
func (c *GetKubeconfigCmd) printKubeconfig(env *Env, kc []byte) error {
	if c.Output == "json" {
		j, err := yaml.YAMLToJSON(kc)
		if err != nil {
			return fmt.Errorf("get kubeconfig: encode json: %w", err)
		}
		var out bytes.Buffer
		if err := json.Indent(&out, j, "", "  "); err != nil {
			return fmt.Errorf("get kubeconfig: encode json: %w", err)
		}
		out.WriteByte('\n')
		kc = out.Bytes()
	}
	_, err := env.Stdout.Write(kc)
	return err
}

// toStdout is whether -o names a format rather than a file.
func (c *GetKubeconfigCmd) toStdout() bool {
	return c.Output == "-" || c.Output == "yaml" || c.Output == "json"
}

func (c *GetKubeconfigCmd) Run(env *Env) error {
	names, err := clusterArgs(c.Names, c.All, "get kubeconfig")
	if err != nil {
		return err
	}
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		if c.All {
			if names, err = allClusterNames(env, e); err != nil {
				return fmt.Errorf("get kubeconfig: %w", err)
			}
			if len(names) == 0 {
				return fmt.Errorf("get kubeconfig: there are no clusters: create one with `k3d create cluster`")
			}
		}
		if !c.toStdout() {
			for _, n := range names {
				if err := e.MergeKubeconfig(env.ctx, n, c.Output, false); err != nil {
					return fmt.Errorf("get kubeconfig %s: %w", n, err)
				}
			}
			env.Log.Info().Msgf("Wrote the kubeconfig of %d cluster(s) to %s", len(names), c.Output)
			return nil
		}
		if len(names) == 1 {
			kc, err := e.Kubeconfig(env.ctx, names[0])
			if err != nil {
				return fmt.Errorf("get kubeconfig %s: %w", names[0], err)
			}
			return c.printKubeconfig(env, kc)
		}
		// Several clusters print as one kubeconfig, merged in a scratch file.
		dir, err := os.MkdirTemp("", "k3d-kubeconfig-")
		if err != nil {
			return fmt.Errorf("get kubeconfig: %w", err)
		}
		defer os.RemoveAll(dir)
		tmp := filepath.Join(dir, "config")
		for _, n := range names {
			if err := e.MergeKubeconfig(env.ctx, n, tmp, false); err != nil {
				return fmt.Errorf("get kubeconfig %s: %w", n, err)
			}
		}
		b, err := os.ReadFile(tmp)
		if err != nil {
			return fmt.Errorf("get kubeconfig: %w", err)
		}
		return c.printKubeconfig(env, b)
	})
}

// MergeKubeconfigCmd is `k3d kubeconfig merge`.
type MergeKubeconfigCmd struct {
	Names                   []string `predictor:"cluster" arg:"" optional:"" help:"Clusters (default ${default_cluster})."`
	All                     bool     `short:"a" help:"Every cluster."`
	Output                  string   `short:"o" placeholder:"FILE" help:"Kubeconfig file to merge into (default: $KUBECONFIG's first entry, else ~/.kube/config)."`
	KubeconfigSwitchContext bool     `name:"kubeconfig-switch-context" short:"s" default:"true" negatable:"" help:"Make the (last) cluster the current context (default true)."`
}

func (c *MergeKubeconfigCmd) Run(env *Env) error {
	names, err := clusterArgs(c.Names, c.All, "merge kubeconfig")
	if err != nil {
		return err
	}
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		if c.All {
			if names, err = allClusterNames(env, e); err != nil {
				return fmt.Errorf("merge kubeconfig: %w", err)
			}
		}
		path := c.Output
		if path == "" {
			path = e.KubeconfigPath()
		}
		for _, n := range names {
			if err := e.MergeKubeconfig(env.ctx, n, path, c.KubeconfigSwitchContext); err != nil {
				return fmt.Errorf("merge kubeconfig %s: %w", n, err)
			}
		}
		fmt.Fprintln(env.Stdout, path)
		return nil
	})
}

// WriteKubeconfigCmd is `k3d kubeconfig write`: one file per cluster, as k3d v5.
type WriteKubeconfigCmd struct {
	Names  []string `predictor:"cluster" arg:"" optional:"" help:"Clusters (default ${default_cluster})."`
	All    bool     `short:"a" help:"Every cluster."`
	Output string   `short:"o" placeholder:"FILE" help:"File to write (default ~/.config/k3d/kubeconfig-NAME.yaml); only for one cluster."`
}

func (c *WriteKubeconfigCmd) Run(env *Env) error {
	names, err := clusterArgs(c.Names, c.All, "write kubeconfig")
	if err != nil {
		return err
	}
	if c.Output != "" && (c.All || len(names) > 1) {
		return fmt.Errorf("write kubeconfig: --output names one file, for one cluster: leave it out to write one file per cluster")
	}
	return env.withEngine(env.ctx, func(e *engine.Engine) error {
		if c.All {
			if names, err = allClusterNames(env, e); err != nil {
				return fmt.Errorf("write kubeconfig: %w", err)
			}
		}
		for _, n := range names {
			kc, err := e.Kubeconfig(env.ctx, n)
			if err != nil {
				return fmt.Errorf("write kubeconfig %s: %w", n, err)
			}
			path := c.Output
			if path == "" {
				home := env.Getenv("HOME")
				if home == "" {
					home, _ = os.UserHomeDir()
				}
				cfgHome := env.Getenv("XDG_CONFIG_HOME")
				if cfgHome == "" {
					cfgHome = filepath.Join(home, ".config")
				}
				path = filepath.Join(cfgHome, "k3d", "kubeconfig-"+n+".yaml")
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return fmt.Errorf("write kubeconfig %s: %w", n, err)
			}
			// Admin credentials: readable by the user only.
			if err := os.WriteFile(path, kc, 0o600); err != nil {
				return fmt.Errorf("write kubeconfig %s: %w", n, err)
			}
			fmt.Fprintln(env.Stdout, path)
		}
		return nil
	})
}
