package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/connhelper"
	"github.com/docker/docker/client"
)

// endpoint is where the daemon is and how we learned it.
type endpoint struct {
	host   string // unix:///var/run/docker.sock, tcp://h:2376, ssh://user@h
	source string // "DOCKER_HOST", `docker context "x"`, "default socket"
}

// scheme is the endpoint's URL scheme ("unix", "tcp", "ssh", "npipe").
func (e endpoint) scheme() string {
	if i := strings.Index(e.host, "://"); i > 0 {
		return e.host[:i]
	}
	return ""
}

// local reports whether the daemon runs on this machine, so that facts about
// this process's host (capabilities, device nodes) are facts about the daemon's.
func (e endpoint) local() bool { return e.scheme() == "unix" }

// hostFiles is the part of the machine endpoint resolution reads, passed in
// so that the choice is tested without touching the machine.
type hostFiles struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	exists   func(string) bool
}

func osHostFiles(getenv func(string) string) hostFiles {
	return hostFiles{
		getenv:   getenv,
		readFile: os.ReadFile,
		exists: func(p string) bool {
			_, err := os.Stat(p)
			return err == nil
		},
	}
}

func resolveEndpoint(getenv func(string) string) (endpoint, error) {
	return resolveEndpointFrom(osHostFiles(getenv))
}

// resolveEndpointFrom picks the daemon the way the docker CLI does, so that k3d
// talks to the same daemon as `docker ps`: DOCKER_HOST, then the docker context
// (DOCKER_CONTEXT or the config's currentContext), then the default socket, or
// the rootless daemon's socket when only that one exists.
func resolveEndpointFrom(h hostFiles) (endpoint, error) {
	if host := h.getenv("DOCKER_HOST"); host != "" {
		return endpoint{host: host, source: "DOCKER_HOST"}, nil
	}
	name, err := currentContext(h)
	if err != nil {
		return endpoint{}, err
	}
	if name != "" && name != "default" {
		host, err := contextHost(h, name)
		if err != nil {
			return endpoint{}, err
		}
		return endpoint{host: host, source: fmt.Sprintf("docker context %q", name)}, nil
	}
	def := endpoint{host: client.DefaultDockerHost, source: "default socket"}
	if !h.exists(strings.TrimPrefix(client.DefaultDockerHost, "unix://")) {
		if xdg := h.getenv("XDG_RUNTIME_DIR"); xdg != "" {
			if sock := filepath.Join(xdg, "docker.sock"); h.exists(sock) {
				return endpoint{host: "unix://" + sock, source: "rootless socket"}, nil
			}
		}
	}
	return def, nil
}

func dockerConfigDir(h hostFiles) string {
	if d := h.getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	return filepath.Join(h.getenv("HOME"), ".docker")
}

func currentContext(h hostFiles) (string, error) {
	if name := h.getenv("DOCKER_CONTEXT"); name != "" {
		return name, nil
	}
	data, err := h.readFile(filepath.Join(dockerConfigDir(h), "config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read docker config: %w", err)
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		// A config we cannot read names no context; the CLI would complain,
		// but the default socket is still the best guess.
		return "", nil
	}
	return cfg.CurrentContext, nil
}

// contextHost reads a docker context's endpoint from the CLI's context store,
// whose directories are named by the SHA-256 of the context name.
func contextHost(h hostFiles, name string) (string, error) {
	sum := sha256.Sum256([]byte(name))
	path := filepath.Join(dockerConfigDir(h), "contexts", "meta", hex.EncodeToString(sum[:]), "meta.json")
	data, err := h.readFile(path)
	if err != nil {
		return "", fmt.Errorf("docker context %q: %w", name, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host string `json:"Host"`
		} `json:"Endpoints"`
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return "", fmt.Errorf("docker context %q: %s: %w", name, path, err)
	}
	host := meta.Endpoints["docker"].Host
	if host == "" {
		return "", fmt.Errorf("docker context %q has no docker endpoint", name)
	}
	return host, nil
}

// clientOptions configures the Engine API client for the endpoint. The API
// version is negotiated so that one build talks to Docker 20.10 (API 1.41) and
// to current Docker (API 1.44+) alike.
func (e endpoint) clientOptions() ([]client.Opt, error) {
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	switch e.scheme() {
	case "ssh":
		// ssh:// endpoints tunnel the API through `ssh HOST docker system
		// dial-stdio`, exactly as the docker CLI does; the helper is the CLI's own.
		helper, err := connhelper.GetConnectionHelper(e.host)
		if err != nil {
			return nil, err
		}
		return append(opts,
			client.WithHTTPClient(&http.Client{Transport: &http.Transport{DialContext: helper.Dialer}}),
			client.WithHost(helper.Host),
			client.WithDialContext(helper.Dialer),
		), nil
	case "unix", "tcp", "npipe", "http", "https":
	default:
		if _, err := url.Parse(e.host); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("unsupported scheme in %q (want unix://, tcp:// or ssh://)", e.host)
	}
	// FromEnv honours DOCKER_TLS_VERIFY, DOCKER_CERT_PATH and
	// DOCKER_API_VERSION as the docker CLI does; the host is the resolved one.
	return append([]client.Opt{client.FromEnv, client.WithHost(e.host)}, opts...), nil
}
