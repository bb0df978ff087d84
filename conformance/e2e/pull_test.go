package e2e

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/k3d/k3d/conformance/internal/registrypush"
	"github.com/k3d/k3d/conformance/k3sdouble"
)

// A node image that only a registry has is pulled, with its bytes shown,
// and once present is used without the registry; an image whose registry
// cannot be reached fails in one line saying how to get it locally, and
// leaves nothing behind.
func TestNodeImagePull(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		ctx := context.Background()
		s := newSession(t, r)

		// The test double, pushed under a name no runtime has yet: the
		// registry is this process, on loopback (no registry outside is
		// reachable here, and none may be used).
		reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		defer reg.Close()
		ref := strings.TrimPrefix(reg.URL, "http://") + "/k3d-e2e-pull/k3s:" + suite.token + "-" + randomHex(3)
		pushDouble(ctx, t, ref)
		if ok, err := r.rt.ImageExists(ctx, ref); err != nil || ok {
			t.Fatalf("%s is in %s before the test (exists %v, %v)", ref, r.name, ok, err)
		}

		name := clusterName("pull")
		s.deleteOnCleanup(name)
		res := s.must("create", "cluster", name, "--image", ref)
		if !strings.Contains(res.stderr, "Pulling image "+ref) || !strings.Contains(res.stderr, " MB") {
			t.Errorf("create does not show the pull with its size:\n%s", res.stderr)
		}
		if ok, err := r.rt.ImageExists(ctx, ref); err != nil || !ok {
			t.Errorf("%s is not in %s after create (exists %v, %v)", ref, r.name, ok, err)
		}
		for _, n := range clusterNodes(ctx, t, r.rt, name)["server"] {
			if n.Image != ref {
				t.Errorf("node %s runs %s, want %s", n.Name, n.Image, ref)
			}
		}

		// Present now: used as it is, with the registry gone.
		reg.Close()
		more := s.must("create", "node", "more-"+name, "--cluster", name, "--image", ref)
		if strings.Contains(more.stderr, "Pulling") {
			t.Errorf("create node pulled an image that is present:\n%s", more.stderr)
		}

		t.Run("unreachable registry", func(t *testing.T) {
			s := s.with(t)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			closed := l.Addr().String()
			l.Close()
			bad := closed + "/k3s:x"
			name := clusterName("nopull")
			s.deleteOnCleanup(name)
			before, _ := os.ReadFile(s.kubeconfig)
			res := s.run("create", "cluster", name, "--image", bad)
			line, ok := oneErrorLine(res.stderr)
			if res.code == 0 || !ok {
				t.Fatalf("want one error line and a non-zero exit: %s", res)
			}
			for _, want := range []string{bad, "could not be reached", "load", "tag", "k3d image import"} {
				if !strings.Contains(line, want) {
					t.Errorf("the error does not say %q: %s", want, line)
				}
			}
			left, err := leftovers(ctx, r.rt, name)
			if err != nil {
				t.Fatal(err)
			}
			if len(left) > 0 {
				t.Errorf("a failed pull left %s behind", strings.Join(left, ", "))
			}
			if after, _ := os.ReadFile(s.kubeconfig); !bytes.Equal(before, after) {
				t.Errorf("a failed pull changed the kubeconfig")
			}
		})
	})
}

// pushDouble pushes the k3s test double's image, plus a layer of random
// bytes, to ref, a repository of the in-process registry.
func pushDouble(ctx context.Context, t *testing.T, ref string) {
	t.Helper()
	var archive bytes.Buffer
	built, err := k3sdouble.BuildImage(ctx, &archive)
	if err != nil {
		t.Fatalf("build the k3s test double: %v", err)
	}
	tag, err := name.NewTag(built)
	if err != nil {
		t.Fatal(err)
	}
	data := archive.Bytes()
	img, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, &tag)
	if err != nil {
		t.Fatalf("read the double's archive: %v", err)
	}
	// A layer of its own: the runtime holds the double's layers already,
	// and a pull of what is there moves no bytes to show.
	extra, err := random.Layer(2<<20, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, extra); err != nil {
		t.Fatal(err)
	}
	dst, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := registrypush.Push(ctx, "http://"+dst.RegistryStr(), dst.RepositoryStr(), dst.TagStr(), img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}
