package pull

import (
	"errors"
	"testing"

	"github.com/k3d/k3d/backends"
)

func TestRegistryHost(t *testing.T) {
	for ref, want := range map[string]string{
		"rancher/k3s:v1":              "docker.io",
		"k3s":                         "docker.io",
		"127.0.0.1:5000/app:1":        "127.0.0.1:5000",
		"localhost/app":               "localhost",
		"ghcr.io/k3d-io/k3d-proxy:5":  "ghcr.io",
		"[::1]:5000/app@sha256:abcd":  "[::1]:5000",
		"registry.local/team/app:dev": "registry.local",
	} {
		if got := RegistryHost(ref); got != want {
			t.Errorf("RegistryHost(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "localhost:5000": true, "127.0.0.1:5000": true, "127.1.2.3": true,
		"[::1]:5000": true, "::1": true,
		"docker.io": false, "10.0.0.1:5000": false, "registry.localhost.example": false, "[::2]:1": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	const ref = "127.0.0.1:5000/app:1"
	for _, tc := range []struct {
		msg  string
		want error // nil: no kind
	}{
		{`Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused`, backends.ErrUnreachable},
		{`dial tcp: lookup registry.invalid on 10.0.0.2:53: no such host`, backends.ErrUnreachable},
		{`net/http: TLS handshake timeout`, backends.ErrUnreachable},
		{`manifest for 127.0.0.1:5000/app:1 not found: manifest unknown: manifest unknown`, backends.ErrNotFound},
		{`reading manifest 1 in 127.0.0.1:5000/app: name unknown: repository name not known to registry`, backends.ErrNotFound},
		{`pull access denied for app, repository does not exist or may require 'docker login'`, backends.ErrNotFound},
		{`http: server gave HTTP response to HTTPS client`, nil},
	} {
		err := Classify(ref, tc.msg)
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("Classify(%q) = %v, want nil", tc.msg, err)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("Classify(%q) = %v, want %v", tc.msg, err, tc.want)
		}
	}
	var ue *backends.UnreachableError
	if err := Classify(ref, "connect: connection refused"); !errors.As(err, &ue) || ue.Endpoint != "127.0.0.1:5000" || ue.Runtime != "the registry of image "+ref {
		t.Errorf("unreachable registry: %#v", err)
	}
	if err := Classify(ref, "manifest unknown"); err.Error() != `image "127.0.0.1:5000/app:1": not found: manifest unknown` {
		t.Errorf("unknown image: %q", err)
	}
}

func TestLayersAddUp(t *testing.T) {
	var l Layers
	steps := []struct {
		id, status     string
		current, total int64
		want           backends.PullProgress
	}{
		{"1", "Pulling from app", 0, 0, backends.PullProgress{Status: "Pulling from app"}},
		{"a", "Pulling fs layer", 0, 0, backends.PullProgress{Status: "Pulling fs layer"}},
		{"b", "Pulling fs layer", 0, 0, backends.PullProgress{Status: "Pulling fs layer"}},
		{"c", "Already exists", 0, 0, backends.PullProgress{Status: "Already exists"}},
		// b's size is not known yet: no total.
		{"a", "Downloading", 10, 100, backends.PullProgress{Done: 10, Status: "Downloading"}},
		{"b", "Downloading", 5, 50, backends.PullProgress{Done: 15, Total: 150, Status: "Downloading"}},
		{"a", "Download complete", 0, 0, backends.PullProgress{Done: 105, Total: 150, Status: "Download complete"}},
		{"a", "Extracting", 3, 100, backends.PullProgress{Done: 105, Total: 150, Status: "Extracting"}},
		{"b", "Downloading", 2, 50, backends.PullProgress{Done: 105, Total: 150, Status: "Downloading"}},
		{"b", "Pull complete", 0, 0, backends.PullProgress{Done: 150, Total: 150, Status: "Pull complete"}},
		{"", "Digest: sha256:1234", 0, 0, backends.PullProgress{Done: 150, Total: 150, Status: "Digest: sha256:1234"}},
		{"0123456789ab", "Download complete", 0, 0, backends.PullProgress{Done: 150, Total: 150, Status: "Download complete"}},
	}
	for i, s := range steps {
		if got := l.Update(s.id, s.status, s.current, s.total); got != s.want {
			t.Errorf("step %d (%s %s): %+v, want %+v", i, s.id, s.status, got, s.want)
		}
	}
}
