package app

import (
	"context"
	"fmt"
	"github.com/k3d/k3d/engine/hostadapt"
	"github.com/k3d/k3d/version"
	"sync"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine"
	"github.com/k3d/k3d/engine/loadbalancer"
)

// VersionCmd is `k3d version`.
type VersionCmd struct{}

// backendInfo is one backend found and what its runtime said.
type backendInfo struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Version string `json:"version,omitempty"`
	API     string `json:"apiVersion,omitempty"`
	Error   string `json:"error,omitempty"`
}

func (c *VersionCmd) Run(env *Env) error {
	fmt.Fprintf(env.Stdout, "k3d version %s\n", version.Version)
	fmt.Fprintf(env.Stdout, "k3s default image: %s\n", engine.DefaultImage)
	found := backends.ListBackends()
	if len(found) == 0 {
		fmt.Fprintf(env.Stdout, "backends: none found (k3d looks for k3d-runtime-NAME next to itself and on PATH)\n")
		return nil
	}
	infos := make([]backendInfo, len(found))
	var wg sync.WaitGroup
	for i, f := range found {
		wg.Add(1)
		go func() {
			defer wg.Done()
			infos[i] = env.probeBackend(f.Name, f.Path)
		}()
	}
	wg.Wait()
	fmt.Fprintln(env.Stdout, "backends:")
	for _, b := range infos {
		switch {
		case b.Error != "":
			fmt.Fprintf(env.Stdout, "  %-10s %s: %s\n", b.Name, b.Path, b.Error)
		default:
			fmt.Fprintf(env.Stdout, "  %-10s %s: %s %s (API %s)\n", b.Name, b.Path, b.Name, b.Version, b.API)
		}
	}
	return nil
}

// probeBackend starts one backend and asks its runtime for its version.
func (env *Env) probeBackend(name, path string) backendInfo {
	ctx, cancel := context.WithTimeout(env.ctx, 30*time.Second)
	defer cancel()
	b := backendInfo{Name: name, Path: path}
	c, err := backends.OpenPath(ctx, path, backends.OpenOptions{Stderr: logWriter{log: env.Log, prefix: name + " backend: "}})
	if err != nil {
		b.Error = oneLine(err.Error())
		return b
	}
	defer c.Close()
	info, err := c.Info(ctx)
	if err != nil {
		b.Error = oneLine(err.Error())
		return b
	}
	b.Version, b.API = info.Version, info.APIVersion
	return b
}

// RuntimeInfoCmd is `k3d runtime-info`.
type RuntimeInfoCmd struct {
	Output    string `short:"o" enum:"text,json,yaml" default:"text" help:"Output format: text, json or yaml."`
	Image     string `short:"i" help:"k3s image a cluster would use (default: the default k3s image)."`
	HostAdapt string `name:"host-adapt" env:"K3D_HOST_ADAPT" default:"auto" placeholder:"auto|off|-ID,..." help:"As for create cluster: which adaptations are turned off."`
}

// runtimeReport is runtime-info's structured output: the runtime's facts and
// what a cluster created now would be adapted with.
type runtimeReport struct {
	backends.Info
	Backend     string              `json:"backend"`
	Adaptations []adaptationSummary `json:"adaptations"`
}

type adaptationSummary struct {
	ID      string   `json:"id"`
	Message string   `json:"message"`
	K3sArgs []string `json:"k3sArgs,omitempty"`
	Files   []string `json:"files,omitempty"`
}

func (c *RuntimeInfoCmd) Run(env *Env) error {
	rt, err := env.openRuntime(env.ctx)
	if err != nil {
		return fmt.Errorf("runtime-info: %w", err)
	}
	defer rt.Close()
	info, err := rt.Info(env.ctx)
	if err != nil {
		return fmt.Errorf("runtime-info: %w", err)
	}
	disabled, err := hostadapt.ParseDisabled(c.HostAdapt)
	if err != nil {
		return fmt.Errorf("runtime-info: --host-adapt: %w", err)
	}
	adapt, err := engine.HostAdaptations(info, disabled, c.Image)
	if err != nil {
		return fmt.Errorf("runtime-info: %w", err)
	}
	report := runtimeReport{Info: info, Backend: rt.Path(), Adaptations: []adaptationSummary{}}
	for _, a := range adapt {
		s := adaptationSummary{ID: string(a.ID), Message: a.Message, K3sArgs: a.K3sArgs}
		for _, f := range a.Files {
			s.Files = append(s.Files, f.Path)
		}
		report.Adaptations = append(report.Adaptations, s)
	}
	if c.Output != "text" {
		return printStructured(env.Stdout, c.Output, report)
	}
	rows := [][2]string{
		{"runtime", info.Name},
		{"version", info.Version},
		{"api version", info.APIVersion},
		{"endpoint", info.Endpoint},
		{"rootless", fmt.Sprint(info.Rootless)},
		{"cgroup version", fmt.Sprint(info.CgroupVersion)},
		{"cgroup driver", info.CgroupDriver},
		{"os/arch", info.OS + "/" + info.Arch},
		{"kernel", info.Kernel},
		{"full privileges", fmt.Sprint(info.FullPrivileges)},
		{"backend", rt.Path()},
	}
	for _, r := range rows {
		fmt.Fprintf(env.Stdout, "%-16s %s\n", r[0]+":", r[1])
	}
	for _, n := range info.Notes {
		fmt.Fprintf(env.Stdout, "note: %s\n", n)
	}
	if len(report.Adaptations) == 0 {
		fmt.Fprintln(env.Stdout, "adaptations:    none: k3s nodes get everything they need here")
	}
	for _, a := range report.Adaptations {
		fmt.Fprintf(env.Stdout, "adaptation:      %s (%s)\n", a.Message, a.ID)
	}
	return nil
}

// LBProxyCmd is the load balancer node's main process.
type LBProxyCmd struct {
	Config string `default:"/etc/k3d/loadbalancer.json" help:"Configuration file; reloaded on change and on SIGHUP."`
}

func (c *LBProxyCmd) Run(env *Env) error {
	if err := loadbalancer.Serve(env.ctx, c.Config); err != nil {
		return fmt.Errorf("lb-proxy: %w", err)
	}
	return nil
}
