// Command k3d runs k3s clusters in containers on Docker, Podman or containerd.
package main

import (
	"os"

	"github.com/k3d/k3d/cmd/k3d/internal/app"
)

func main() {
	os.Exit(app.Main())
}
