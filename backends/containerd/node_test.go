package containerd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/k3d/k3d/backends"
)

// A node's image VOLUMEs become anonymous volumes filled from the image, as
// with Docker, and exec runs as the user asked for by number or by name.
func TestNodeUsersAndAnonymousVolumes(t *testing.T) {
	rt := needContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	netName := testName(t, "users")
	if _, err := rt.CreateNetwork(ctx, backends.NetworkSpec{Name: netName}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.DeleteNetwork(context.Background(), netName) })
	name := testName(t, "users")
	runNode(t, ctx, backends.NodeSpec{Name: name, Networks: []backends.NetworkAttachment{{Network: netName}}})

	for user, want := range map[string]string{"": "0:0", "4321:4321": "4321:4321", "k3duser": "1234:2345", "k3duser:k3dgroup": "1234:3456", "1234": "1234:2345"} {
		out, code := run(t, ctx, name, user, "id")
		if code != 0 || strings.TrimSpace(out) != want {
			t.Errorf("exec id as %q: exit %d, %q; want %s", user, code, out, want)
		}
	}
	out, code := run(t, ctx, name, "", "cat", "/var/lib/data/seed")
	if code != 0 || out != "from the image\n" {
		t.Errorf("the image's file in its VOLUME: exit %d, %q", code, out)
	}
	out, _ = run(t, ctx, name, "", "stat", "/var/lib/data/seed")
	if strings.TrimSpace(out) != "0640 1234:2345" {
		t.Errorf("the image's file in its VOLUME: mode and owner %q, want 0640 1234:2345", out)
	}
	out, _ = run(t, ctx, name, "", "stat", "/var/lib/data")
	if strings.TrimSpace(out) != "0750 1234:2345" {
		t.Errorf("the image's VOLUME directory: mode and owner %q, want 0750 1234:2345", out)
	}
	// A volume, not the node's root filesystem: the data lives under the
	// node's directory, and goes with it.
	rec, err := rt.nodeRecord(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	anon := anonVolumes(rt.root.nodeDir(name), imageConfigWithVolume(), nil)
	if data, err := os.ReadFile(filepath.Join(anon[0].source, "seed")); err != nil || string(data) != "from the image\n" {
		t.Errorf("anonymous volume of %s (%s): %q, %v", rec.name, anon[0].source, data, err)
	}
}

func imageConfigWithVolume() ocispec.ImageConfig {
	return ocispec.ImageConfig{Volumes: map[string]struct{}{"/var/lib/data": {}}}
}
