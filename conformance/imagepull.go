package conformance

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/conformance/internal/registrypush"
	"github.com/k3d/k3d/engine/imagebuild"
)

// testImagePull: a pull from a registry on this machine (spoken to over
// plain HTTP) reports its bytes, and leaves the image present with the
// pushed config's digest as its ID; an unreachable registry and an unknown
// image give the contract's typed errors, naming the image.
//
// The registry runs in the test process on 127.0.0.1, which the runtime's
// daemon reaches from the host's network namespace (rootless Podman's
// service included). The contract has no image delete: each run leaves one
// small pulled image behind, whose layer is unique to the run so that no
// runtime can skip downloading it.
func testImagePull(t *testing.T, f *fixture) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := srv.Listener.Addr().String()

	ref := host + "/k3d-conformance-pull:" + f.s.runID
	img, err := pullableImage(ref, goArch(f.s.info.Arch))
	if err != nil {
		t.Fatalf("build image %s: %v", ref, err)
	}
	want, err := img.ConfigName()
	if err != nil {
		t.Fatalf("config digest of %s: %v", ref, err)
	}
	if err := registrypush.Push(f.ctx, srv.URL, "k3d-conformance-pull", f.s.runID, img); err != nil {
		t.Fatalf("push %s to the test registry: %v", ref, err)
	}

	t.Run("pull", func(t *testing.T) {
		var mu sync.Mutex
		var events []backends.PullProgress
		err := f.rt.ImagePull(f.ctx, ref, backends.PullOptions{Progress: func(p backends.PullProgress) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, p)
		}})
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		mu.Lock()
		defer mu.Unlock()
		var moved bool
		for _, p := range events {
			moved = moved || p.Done > 0
			if p.Total > 0 && p.Done > p.Total {
				t.Errorf("pull %s: progress past its total: %+v", ref, p)
			}
		}
		if len(events) > 0 {
			t.Logf("pull %s: %d progress events, the last %+v", ref, len(events), events[len(events)-1])
		}
		if !moved {
			t.Errorf("pull %s: no progress reported bytes done (%d events: %+v)", ref, len(events), events)
		}
		if ok, err := f.rt.ImageExists(f.ctx, ref); err != nil || !ok {
			t.Errorf("image exists %s after pulling it: %t, %v", ref, ok, err)
		}
		got, err := f.rt.ImageInspect(f.ctx, ref)
		if err != nil {
			t.Fatalf("inspect pulled image %s: %v", ref, err)
		}
		if got.ID != want.String() {
			t.Errorf("pulled image %s has ID %s, want the pushed config's digest %s", ref, got.ID, want)
		}
		if !containsRef(got.Refs, ref) {
			t.Errorf("pulled image %s: refs %q do not name it", ref, got.Refs)
		}
		// What a pull is for: nodes can be made from the image at once.
		f.on(t).createNode(backends.NodeSpec{Name: f.name("pulled"), Image: ref})
	})

	t.Run("unknown-image", func(t *testing.T) {
		missing := host + "/k3d-conformance-pull:missing-" + f.s.runID
		err := f.rt.ImagePull(f.ctx, missing, backends.PullOptions{})
		t.Logf("pull an image the registry lacks: %v", err)
		wantKind(t, "pull an image the registry lacks", err, backends.ErrNotFound)
		if err != nil && !strings.Contains(err.Error(), missing) {
			t.Errorf("pull an image the registry lacks: error %q does not name %s", err, missing)
		}
		if ok, err := f.rt.ImageExists(f.ctx, missing); err != nil || ok {
			t.Errorf("image exists %s after a failed pull: %t, %v", missing, ok, err)
		}
	})

	t.Run("unreachable-registry", func(t *testing.T) {
		closed := closedPort(t)
		nowhere := closed + "/k3d-conformance-pull:" + f.s.runID
		err := f.rt.ImagePull(f.ctx, nowhere, backends.PullOptions{})
		t.Logf("pull from a closed port: %v", err)
		var ue *backends.UnreachableError
		switch {
		case err == nil:
			t.Fatalf("pull %s from a closed port: no error", nowhere)
		case !backends.IsUnreachable(err) || !errors.As(err, &ue):
			t.Fatalf("pull %s from a closed port: error %q (%T) is not an *UnreachableError", nowhere, err, err)
		}
		if !strings.Contains(err.Error(), nowhere) {
			t.Errorf("pull from a closed port: error %q does not name the image", err)
		}
		if ue.Endpoint != closed {
			t.Errorf("pull from a closed port: endpoint %q, want the registry %s", ue.Endpoint, closed)
		}
	})
}

// pullableImage is a one-layer image whose layer (gzipped, as registries
// serve them) holds 256 KiB no other run has: big enough for a runtime to
// report download progress, new to every runtime.
func pullableImage(ref, goarch string) (v1.Image, error) {
	payload := make([]byte, 256<<10)
	if _, err := rand.Read(payload); err != nil {
		return nil, err
	}
	built, _, err := imagebuild.Image(imagebuild.Spec{
		Ref:        ref,
		Files:      []imagebuild.File{{Path: "/payload", Mode: 0o644, Data: payload}},
		Entrypoint: []string{"/payload"},
		Arch:       goarch,
	})
	if err != nil {
		return nil, err
	}
	layers, err := built.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("%d layers, want 1", len(layers))
	}
	gz, err := tarball.LayerFromOpener(layers[0].Uncompressed)
	if err != nil {
		return nil, err
	}
	cf, err := built.ConfigFile()
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, gz)
	if err != nil {
		return nil, err
	}
	// The same config, history and diff IDs: the layer's content is the same.
	return mutate.ConfigFile(img, cf)
}

// closedPort is a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
