package containerd

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

// A missing socket is one clear line naming it and how to start containerd.
func TestUnreachable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("as non-root the backend refuses before it looks for the socket")
	}
	rt, err := New(Options{Address: "unix:///run/k3d-test-no-such.sock", Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = rt.Info(context.Background())
	var ue *backends.UnreachableError
	if !backends.IsUnreachable(err) || !errors.As(err, &ue) {
		t.Fatalf("info with a missing socket: %v, want unreachable", err)
	}
	if ue.Endpoint != "unix:///run/k3d-test-no-such.sock" || !strings.Contains(ue.Hint, "CONTAINERD_ADDRESS") {
		t.Errorf("unreachable error: %+v", ue)
	}
}

// The daemon's user is read from the socket: a containerd run by another
// user is rootless.
func TestPeerUID(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	uid, err := peerUID(sock)
	if err != nil || uid != uint32(os.Geteuid()) {
		t.Errorf("peer uid %d, %v; want %d", uid, err, os.Geteuid())
	}
}
