package app

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine"
)

// ImageNounCmd is `k3d image ...`.
type ImageNounCmd struct {
	Import ImageImportCmd `cmd:"" aliases:"load" help:"Import images from a runtime or tarballs into a cluster's nodes."`
}

// ToolsCmd is the seed's `k3d tools ...`.
type ToolsCmd struct {
	ImportImages ImageImportCmd `cmd:"" name:"import-images" help:"Import images into a cluster's nodes (same as k3d image import)."`
}

// ImageImportCmd is `k3d image import` / `k3d image load` / `k3d tools import-images`.
type ImageImportCmd struct {
	Sources []string `arg:"" name:"image|tarball" help:"Images in the source runtime, image archives on disk (docker-archive or OCI), or - for an archive on stdin."`
	Cluster string   `predictor:"cluster" short:"c" aliases:"name" default:"${default_cluster}" help:"Cluster to import into."`
	From    string   `enum:",docker,podman,containerd" default:"" placeholder:"RUNTIME" help:"Read images from this runtime (default: the cluster's own)."`
	Nodes   string   `placeholder:"FILTER" help:"Only these nodes (node filter, e.g. server:0 or agent:*; default every server and agent)."`
	Force   bool     `help:"Import even into nodes that hold every image already (same image ID under every name)."`
	// The stream goes straight into the nodes; a tarball is written only
	// when asked for, and then kept where nodes added later find it.
	KeepTarball bool `name:"keep-tarball" short:"k" help:"Also write each image stream as a tarball into the cluster's image volume (/k3d/images in every node) and keep it there: nodes added later with k3d create node import it."`
	NoRemove    bool `name:"no-remove" help:"Same as --keep-tarball (the seed's name)."`
}

func (c *ImageImportCmd) Run(env *Env) error {
	o := engine.ImportOptions{Cluster: c.Cluster, Nodes: c.Nodes, Force: c.Force, Stdin: os.Stdin, KeepTarball: c.KeepTarball || c.NoRemove}
	for _, s := range c.Sources {
		if s == "-" {
			o.Tarballs = append(o.Tarballs, s)
			continue
		}
		// A path that exists is an archive; anything else is an image
		// reference (image references may look like relative paths).
		if fi, err := os.Stat(s); err == nil && fi.Mode().IsRegular() {
			o.Tarballs = append(o.Tarballs, s)
			continue
		}
		o.Images = append(o.Images, s)
	}
	err := env.withEngine(env.ctx, func(e *engine.Engine) error {
		if c.From != "" && len(o.Images) > 0 {
			info, err := e.Info(env.ctx)
			if err != nil {
				return err
			}
			if info.Name != c.From {
				src, err := openSource(env.ctx, env, c.From)
				if err != nil {
					return err
				}
				defer src.Close()
				o.Source, o.SourceName = src, c.From
			}
		}
		if o.SourceName == "" {
			if info, err := e.Info(env.ctx); err == nil {
				o.SourceName = info.Name
			}
		}
		res, err := e.ImportImages(env.ctx, o)
		c.report(env, res, o.Images)
		return err
	})
	if err != nil {
		return fmt.Errorf("import images into cluster %s: %w", c.Cluster, err)
	}
	return nil
}

// openSource starts the backend of the runtime images are read from.
func openSource(ctx context.Context, env *Env, name string) (*backends.Client, error) {
	src, err := backends.Open(ctx, name, backends.OpenOptions{Stderr: logWriter{log: env.Log, prefix: "backend " + name + ": "}})
	if err != nil {
		return nil, fmt.Errorf("--from %s: %w", name, err)
	}
	if _, err := src.Info(ctx); err != nil {
		src.Close()
		return nil, fmt.Errorf("--from %s: %w", name, err)
	}
	return src, nil
}

func (c *ImageImportCmd) report(env *Env, res engine.ImportResult, images []string) {
	if len(res.Imported) > 0 {
		env.Log.Info().Msgf("Imported %s into %s (%s streamed in %s)",
			strings.Join(c.Sources, ", "), strings.Join(res.Imported, ", "), megabytes(res.Bytes), elapsed(res.Duration))
	}
	if len(res.Skipped) > 0 {
		env.Log.Info().Msgf("Skipped %s: already holding %s as it is now (--force imports anyway)",
			strings.Join(res.Skipped, ", "), strings.Join(images, ", "))
	}
	if len(res.Kept) > 0 {
		env.Log.Info().Msgf("Kept %s in volume %s (mounted at /k3d/images in every node): nodes added with `k3d create node` import it; import it by hand with `ctr -n k8s.io images import FILE` in a node",
			strings.Join(res.Kept, ", "), res.ImageVolume)
	}
}

func megabytes(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
