// Command k3d-runtime-podman is k3d's Podman backend: k3d starts it and
// speaks the Runtime protocol to it.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/podman"
)

func main() {
	// Stderr goes to k3d's debug log.
	cache, _ := os.UserCacheDir()
	if cache != "" {
		cache = filepath.Join(cache, "k3d")
	}
	rt, err := podman.New(podman.Options{Report: os.Stderr, CacheDir: cache})
	if err != nil {
		fmt.Fprintln(os.Stderr, "k3d-runtime-podman:", err)
		os.Exit(1)
	}
	backends.Serve(rt)
}
