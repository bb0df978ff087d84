package backends_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/k3d/k3d/backends"
)

// Backend programs built once for the whole test binary.
var (
	testBackend   string // k3d-runtime-test: the testbackend fake, protocol 1
	testBackendV2 string // the same program claiming protocol 2
)

func TestMain(m *testing.M) {
	if mode := os.Getenv("BACKENDS_TEST_PARENT"); mode != "" {
		os.Exit(actAsParent(mode, os.Getenv("BACKENDS_TEST_BACKEND")))
	}
	dir, err := os.MkdirTemp("", "k3d-backends-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testBackend = filepath.Join(dir, "k3d-runtime-test")
	testBackendV2 = filepath.Join(dir, "v2", "k3d-runtime-test")
	const pkg = "github.com/k3d/k3d/backends/internal/testbackend/cmd/k3d-runtime-test"
	builds := [][]string{
		{"build", "-o", testBackend, pkg},
		{"build", "-ldflags", "-X github.com/k3d/k3d/backends.servedProtocol=2", "-o", testBackendV2, pkg},
	}
	for _, args := range builds {
		cmd := exec.Command(goTool(), args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go %s: %v\n%s", strings.Join(args, " "), err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// actAsParent runs in a child copy of the test binary: it starts a backend,
// prints the backend's pid and exits without stopping it, as a k3d that is
// killed would. mode "open" starts it the way k3d does (OpenPath); "plain"
// starts it without the kernel's death signal, leaving only Serve's watchdog.
func actAsParent(mode, backend string) int {
	switch mode {
	case "open":
		c, err := backends.OpenPath(context.Background(), backend, backends.OpenOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(c.PID())
		return 0
	case "plain":
		cmd := exec.Command(backend)
		cmd.Env = append(os.Environ(), "K3D_BACKEND_MAGIC_COOKIE=k3d-runtime-backend-6a1f4c2e", "PLUGIN_PROTOCOL_VERSIONS=1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// The handshake line proves Serve runs, with this process as parent.
		if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
			fmt.Fprintln(os.Stderr, "no handshake:", err)
			return 1
		}
		fmt.Println(cmd.Process.Pid)
		return 0
	}
	return 2
}

// openTestBackend starts the test backend program as k3d would.
func openTestBackend(t testing.TB, stderr *syncBuffer) *backends.Client {
	t.Helper()
	opts := backends.OpenOptions{}
	if stderr != nil {
		opts.Stderr = stderr
	}
	c, err := backends.OpenPath(context.Background(), testBackend, opts)
	if err != nil {
		t.Fatalf("open test backend: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// syncBuffer is a bytes.Buffer safe for the backend's log lines, which arrive
// on other goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
