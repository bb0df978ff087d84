// Command k3d-runtime-docker is k3d's Docker backend: k3d starts it and
// speaks the Runtime protocol to it.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/docker"
)

func main() {
	// Stderr goes to k3d's debug log.
	// The privileged-mode probe's answer is kept in the user's cache
	// directory; without one, every process probes.
	cache, _ := os.UserCacheDir()
	if cache != "" {
		cache = filepath.Join(cache, "k3d")
	}
	rt, err := docker.New(docker.Options{Report: os.Stderr, CacheDir: cache})
	if err != nil {
		fmt.Fprintln(os.Stderr, "k3d-runtime-docker:", err)
		os.Exit(1)
	}
	backends.Serve(rt)
}
