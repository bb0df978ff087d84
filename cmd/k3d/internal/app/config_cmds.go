package app

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/k3d/k3d/engine"
	"github.com/k3d/k3d/engine/config"
)

// ConfigNounCmd is `k3d config ...`.
type ConfigNounCmd struct {
	Init    ConfigInitCmd    `cmd:"" help:"Write a commented k3d.io/v1alpha5 config file with the defaults."`
	Migrate ConfigMigrateCmd `cmd:"" help:"Convert a v1alpha2, v1alpha3 or v1alpha4 config file to v1alpha5."`
}

// ConfigInitCmd is `k3d config init`.
type ConfigInitCmd struct {
	Output string `short:"o" default:"k3d-default.yaml" placeholder:"FILE" help:"Where to write it (- for standard output)."`
	Force  bool   `short:"f" help:"Overwrite an existing file."`
}

func (c *ConfigInitCmd) Run(env *Env) error {
	data := config.Template(engine.DefaultClusterName, engine.DefaultImage)
	if c.Output == "-" {
		_, err := env.Stdout.Write(data)
		return err
	}
	if err := writeNew(c.Output, data, c.Force); err != nil {
		return fmt.Errorf("config init: %w", err)
	}
	env.Log.Info().Msgf("Wrote %s: create the cluster with `k3d cluster create --config %s`", c.Output, c.Output)
	return nil
}

// ConfigMigrateCmd is `k3d config migrate`.
type ConfigMigrateCmd struct {
	Input  string `arg:"" placeholder:"INPUT" help:"The old config file (- for standard input)."`
	Output string `arg:"" optional:"" placeholder:"OUTPUT" help:"Where to write the v1alpha5 file (default: standard output)."`
}

func (c *ConfigMigrateCmd) Run(env *Env) error {
	var data []byte
	var err error
	if c.Input == "-" {
		data, err = io.ReadAll(env.stdin())
	} else {
		data, err = os.ReadFile(c.Input)
	}
	if err != nil {
		return fmt.Errorf("config migrate: read %s: %w", c.Input, unwrapPath(err))
	}
	out, err := config.Migrate(c.Input, data)
	if err != nil {
		return fmt.Errorf("config migrate: %w", err)
	}
	if c.Output == "" || c.Output == "-" {
		_, err := env.Stdout.Write(out)
		return err
	}
	if err := os.WriteFile(c.Output, out, 0o644); err != nil {
		return fmt.Errorf("config migrate: write %s: %w", c.Output, unwrapPath(err))
	}
	env.Log.Info().Msgf("Wrote %s (%s)", c.Output, config.APIVersion)
	return nil
}

// writeNew writes a file that must not exist yet, unless force.
func writeNew(path string, data []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists already: choose another --output, or overwrite it with --force", path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, unwrapPath(err))
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
