// Command k3d-runtime-test serves the testbackend fake as a backend program,
// so that tests drive the protocol through a real subprocess as k3d does.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/testbackend"
)

// chatty says something on stderr when asked for Info, as a backend writing
// diagnostics would: tests check that k3d receives such lines.
type chatty struct{ *testbackend.Fake }

func (c chatty) Info(ctx context.Context) (backends.Info, error) {
	fmt.Fprintln(os.Stderr, "fake backend: info asked")
	return c.Fake.Info(ctx)
}

func main() {
	backends.Serve(chatty{testbackend.New()})
}
