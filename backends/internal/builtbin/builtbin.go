// Package builtbin finds the backend programs `make build` wrote, for the
// benchmarks that run them beside their runtime's own API.
package builtbin

import (
	"os"
	"path/filepath"
	"testing"
)

// Backend is the path of k3d-runtime-NAME in $K3D_BIN_DIR, else in the
// repository's bin/ seen from a backend module's directory. A missing
// program skips tb at once, before any costly set-up, saying how to build it.
func Backend(tb testing.TB, name string) string {
	tb.Helper()
	dir := os.Getenv("K3D_BIN_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "bin")
	}
	p := filepath.Join(dir, "k3d-runtime-"+name)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("%s is not built (make build, or make BACKENDS=%s build); set K3D_BIN_DIR to use another", p, name)
	}
	return p
}
