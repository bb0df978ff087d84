// Command node-image loads the k3s test double's node image (a test fixture)
// into a runtime through its k3d backend, and prints the image reference as
// its last line: go run ./conformance/k3sdouble/cmd/node-image --runtime docker
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/conformance/k3sdouble"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "node-image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("node-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runtimeName := fs.String("runtime", envOr("K3D_RUNTIME", "docker"), "runtime whose backend loads the image (docker, podman, containerd)")
	binDir := fs.String("bin-dir", "", "directory holding the k3d-runtime-* backends (default: the source tree's bin/)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	dir := *binDir
	if dir == "" {
		dir = repoBin()
	}
	// `go run` builds this program in a temporary directory, so the
	// backends are not next to it: put the repository's bin/ first on PATH.
	if dir != "" {
		// exec.LookPath ignores relative PATH entries (ErrDot).
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		os.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	rt, err := backends.Open(ctx, *runtimeName, backends.OpenOptions{Stderr: stderr})
	if err != nil {
		return err
	}
	defer rt.Close()
	fmt.Fprintf(stderr, "loading the k3s test double into %s (backend %s)\n", *runtimeName, rt.Path())
	ref, err := k3sdouble.Load(ctx, rt)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, ref)
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// repoBin finds bin/ of the k3d source tree the working directory is in.
func repoBin() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/k3d/k3d\n") {
			return filepath.Join(dir, "bin")
		}
		if !errors.Is(err, os.ErrNotExist) && err != nil {
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
