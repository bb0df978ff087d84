package backends

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/k3d/k3d/backends/internal/runtimepb"
)

// olderBackend answers nothing: a backend built before a method existed.
type olderBackend struct {
	pb.UnimplementedRuntimeServer
}

func TestABackendLackingAMethodSaysToRebuildIt(t *testing.T) {
	dir, err := os.MkdirTemp("", "k3dbe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	s := newGRPCServer(nil)
	pb.RegisterRuntimeServer(s, olderBackend{})
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("unix://"+l.Addr().String(), append(dialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &Client{rpc: pb.NewRuntimeClient(conn), name: "k3d-runtime-old", sink: &lineSink{}}

	_, err = c.ImageExists(context.Background(), "x")
	want := "look up image x: backend k3d-runtime-old does not implement ImageExists: rebuild it with make build"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	_, err = c.Logs(context.Background(), "n", LogOptions{})
	if err == nil || !strings.Contains(err.Error(), "does not implement Logs") {
		t.Errorf("got %v", err)
	}
}

func TestLineSinkKeepsLinesWhole(t *testing.T) {
	var out strings.Builder
	sink := &lineSink{out: &out}
	a, b := sink.writer("", true), sink.writer("stdout: ", true)
	a.Write([]byte("hello "))
	b.Write([]byte("from stdout\nsecond"))
	a.Write([]byte("world\npanic: boom\nlast words"))
	a.flush()
	b.flush()
	want := "stdout: from stdout\nhello world\npanic: boom\nlast words\nstdout: second\n"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
	if r := sink.tail.reason(); r != "panic: boom" {
		t.Errorf("reason %q, want the panic line", r)
	}
}
