package k3s

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pullNode is a node's data directory and registries.yaml.
type pullNode struct {
	dataDir, registries string
}

func newPullNode(t *testing.T, registriesYAML string) pullNode {
	t.Helper()
	dir := t.TempDir()
	n := pullNode{dataDir: filepath.Join(dir, "data"), registries: filepath.Join(dir, "registries.yaml")}
	if registriesYAML != "" {
		if err := os.WriteFile(n.registries, []byte(registriesYAML), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func (n pullNode) crictl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := Env{Args: append([]string{"crictl"}, args...), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Now: time.Now,
		Getenv: func(k string) string {
			switch k {
			case "K3S_DATA_DIR":
				return n.dataDir
			case "K3S_PRIVATE_REGISTRY":
				return n.registries
			}
			return ""
		}}
	code = Main(context.Background(), env)
	return code, out.String(), errOut.String()
}

// serveRegistry is an in-process registry; wrap may put auth in front.
func serveRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// pushTest pushes a random image to host/repo and returns its config digest.
func pushTest(t *testing.T, ref string, opts ...remote.Option) string {
	t.Helper()
	img := testImage(t, 4096, 2)
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	id, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// An image of a registry the node cannot reach by its own name comes through
// the mirror registries.yaml names, lands in the content store, and is listed
// by crictl images under the name the pod asked for.
func TestCrictlPullThroughMirror(t *testing.T) {
	mirror := serveRegistry(t, nil)
	id := pushTest(t, mirror+"/team/app:v1")
	n := newPullNode(t, "mirrors:\n  registry.example.invalid:\n    endpoint:\n      - http://"+mirror+"\n")

	code, out, errOut := n.crictl(t, "pull", "registry.example.invalid/team/app:v1")
	if code != 0 {
		t.Fatalf("crictl pull: exit %d: %s", code, errOut)
	}
	if want := "Image is up to date for " + id + "\n"; out != want {
		t.Errorf("crictl pull printed %q, want %q", out, want)
	}
	code, out, errOut = n.crictl(t, "images", "-o", "json")
	if code != 0 {
		t.Fatalf("crictl images: %s", errOut)
	}
	var list struct {
		Images []criImage `json:"images"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Images) != 1 || list.Images[0].ID != id || list.Images[0].RepoTags[0] != "registry.example.invalid/team/app:v1" {
		t.Errorf("crictl images after the pull: %s", out)
	}
	if _, err := os.Stat(filepath.Join(contentDir(n.dataDir), strings.TrimPrefix(id, "sha256:"))); err != nil {
		t.Errorf("the image's config is not in the content store: %v", err)
	}
}

// A "*" mirror serves every registry without its own entry, a rewrite moves
// the repository, and credentials from configs reach a registry that needs
// them.
func TestCrictlPullWildcardRewriteAndAuth(t *testing.T) {
	needAuth := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "dev" || p != "s3cret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	mirror := serveRegistry(t, needAuth)
	id := pushTest(t, mirror+"/cache/library/busybox:1", remote.WithAuth(&authn.Basic{Username: "dev", Password: "s3cret"}))
	n := newPullNode(t, `mirrors:
  "*":
    endpoint: ["http://`+mirror+`"]
    rewrite:
      "^library/(.*)": "cache/library/$1"
configs:
  "`+mirror+`":
    auth: {username: dev, password: s3cret}
`)
	code, out, errOut := n.crictl(t, "pull", "busybox:1")
	if code != 0 {
		t.Fatalf("crictl pull busybox:1: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, id) {
		t.Errorf("crictl pull printed %q, want the image ID %s", out, id)
	}
}

// When no endpoint has the image, the pull fails in one line naming every
// endpoint it tried, mirror first, and records nothing.
func TestCrictlPullNamesEveryEndpointTried(t *testing.T) {
	mirror := serveRegistry(t, nil)
	n := newPullNode(t, "mirrors:\n  registry.example.invalid:\n    endpoint: [\"http://"+mirror+"\"]\n")
	code, _, errOut := n.crictl(t, "pull", "registry.example.invalid/team/missing:v1")
	if code == 0 {
		t.Fatal("crictl pull of a missing image succeeded")
	}
	line := strings.TrimSpace(errOut)
	if strings.Contains(line, "\n") {
		t.Errorf("want one error line, got:\n%s", errOut)
	}
	mi, di := strings.Index(line, "http://"+mirror), strings.Index(line, "https://registry.example.invalid")
	if mi < 0 || di < 0 || mi > di {
		t.Errorf("the error does not name the mirror and then the registry itself: %s", line)
	}
	if imgs, _ := readImages(n.dataDir); len(imgs) != 0 {
		t.Errorf("a failed pull recorded images: %+v", imgs)
	}
}

// A registries.yaml k3s would refuse is refused by name.
func TestCrictlPullBadRegistriesFile(t *testing.T) {
	n := newPullNode(t, "mirrors:\n  docker.io:\n    endpoints: [\"http://x:5000\"]\n")
	code, _, errOut := n.crictl(t, "pull", "busybox")
	if code == 0 || !strings.Contains(errOut, "endpoints") || !strings.Contains(errOut, n.registries) {
		t.Errorf("want a failure naming the file and the field, got exit %d: %s", code, errOut)
	}
}
