package backends

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/k3d/k3d/backends/internal/runtimepb"
)

// ConnectInProcess serves rt on a unix socket inside the test process, with
// the same gRPC settings a backend program uses, and returns a Client to it.
func ConnectInProcess(t testing.TB, rt Runtime) *Client {
	t.Helper()
	// Unix socket paths are short (108 bytes): t.TempDir can be too long.
	dir, err := os.MkdirTemp("", "k3dbe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := newGRPCServer(nil)
	pb.RegisterRuntimeServer(s, &server{rt: rt})
	go func() { _ = s.Serve(l) }()
	conn, err := grpc.NewClient("unix://"+sock, append(dialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{rpc: pb.NewRuntimeClient(conn), path: "in-process", name: "in-process", sink: &lineSink{}}
	t.Cleanup(func() {
		c.Close()
		conn.Close()
		s.Stop()
	})
	return c
}

// PID is the backend process's id, for tests that watch it.
func (c *Client) PID() int {
	if c.proc == nil {
		return 0
	}
	return c.proc.processID()
}
