package k3s

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.yaml.in/yaml/v3"
)

// DefaultRegistriesFile is where k3s reads its registry configuration
// (k3s's --private-registry default).
const DefaultRegistriesFile = "/etc/rancher/k3s/registries.yaml"

// registriesConfig is k3s's registries.yaml: mirrors say where to pull a
// registry's images from, configs how to talk to an endpoint.
type registriesConfig struct {
	Mirrors map[string]struct {
		Endpoint []string          `yaml:"endpoint"`
		Rewrite  map[string]string `yaml:"rewrite"`
	} `yaml:"mirrors"`
	Configs map[string]struct {
		Auth *struct {
			Username      string `yaml:"username"`
			Password      string `yaml:"password"`
			Auth          string `yaml:"auth"`
			IdentityToken string `yaml:"identity_token"`
		} `yaml:"auth"`
		TLS *struct {
			CAFile             string `yaml:"ca_file"`
			CertFile           string `yaml:"cert_file"`
			KeyFile            string `yaml:"key_file"`
			InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
		} `yaml:"tls"`
	} `yaml:"configs"`
}

func readRegistries(path string) (registriesConfig, error) {
	var c registriesConfig
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("parse %s: %w", path, err)
	}
	return c, nil
}

// endpoint is one place an image may be pulled from, with the repository
// path it has there (after a mirror's rewrite).
type endpoint struct {
	url  *url.URL
	repo string
}

// endpoints lists where containerd, configured by k3s, looks for ref's
// registry: the mirror's endpoints in order (a "*" mirror for registries
// without their own), then the registry itself.
func (c registriesConfig) endpoints(host, repo string) ([]endpoint, error) {
	var eps []endpoint
	m, ok := c.Mirrors[host]
	if !ok {
		m, ok = c.Mirrors["*"]
	}
	if ok {
		rewritten := repo
		for pattern, repl := range m.Rewrite {
			re, err := regexp.Compile(pattern)
			if err != nil {
				return nil, fmt.Errorf("mirror %s: rewrite %q: %w", host, pattern, err)
			}
			if re.MatchString(repo) {
				rewritten = re.ReplaceAllString(repo, repl)
				break
			}
		}
		for _, e := range m.Endpoint {
			if !strings.Contains(e, "://") {
				e = "https://" + e
			}
			u, err := url.Parse(e)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("mirror %s: endpoint %q is not a URL", host, e)
			}
			eps = append(eps, endpoint{url: u, repo: rewritten})
		}
	}
	def := host
	if host == "docker.io" {
		def = "registry-1.docker.io"
	}
	u := &url.URL{Scheme: "https", Host: def}
	for _, e := range eps {
		if e.url.Host == u.Host && e.repo == repo {
			return eps, nil
		}
	}
	return append(eps, endpoint{url: u, repo: repo}), nil
}

// options are how to reach an endpoint: its configs entry's TLS and auth.
func (c registriesConfig) options(ctx context.Context, ep endpoint, creds string) ([]remote.Option, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	auth := authn.Anonymous
	if cfg, ok := c.Configs[ep.url.Host]; ok {
		if t := cfg.TLS; t != nil {
			tlsCfg.InsecureSkipVerify = t.InsecureSkipVerify
			if t.CAFile != "" {
				pem, err := os.ReadFile(t.CAFile)
				if err != nil {
					return nil, fmt.Errorf("configs %s: ca_file: %w", ep.url.Host, err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("configs %s: ca_file %s holds no certificate", ep.url.Host, t.CAFile)
				}
				tlsCfg.RootCAs = pool
			}
			if t.CertFile != "" || t.KeyFile != "" {
				cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
				if err != nil {
					return nil, fmt.Errorf("configs %s: client certificate: %w", ep.url.Host, err)
				}
				tlsCfg.Certificates = []tls.Certificate{cert}
			}
		}
		if a := cfg.Auth; a != nil {
			ac := authn.AuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}
			if a.Auth != "" {
				dec, err := base64.StdEncoding.DecodeString(a.Auth)
				if err != nil {
					return nil, fmt.Errorf("configs %s: auth is not base64: %w", ep.url.Host, err)
				}
				ac.Username, ac.Password, _ = strings.Cut(string(dec), ":")
			}
			auth = authn.FromConfig(ac)
		}
	}
	if creds != "" {
		user, pass, _ := strings.Cut(creds, ":")
		auth = authn.FromConfig(authn.AuthConfig{Username: user, Password: pass})
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(tr),
		remote.WithAuth(auth),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
	}, nil
}

// contentDir is where k3s's containerd keeps blobs.
func contentDir(dataDir string) string {
	return filepath.Join(dataDir, "agent", "containerd", "io.containerd.content.v1.content", "blobs", "sha256")
}

// pullImage fetches ref the way k3s's containerd does, through the mirrors
// of registriesFile, stores its blobs in the node's content store and
// records it in the k8s.io namespace. It returns the image ID.
func pullImage(ctx context.Context, dataDir, registriesFile, ref, creds string, now time.Time) (string, error) {
	ref = normalizeRef(ref)
	cfg, err := readRegistries(registriesFile)
	if err != nil {
		return "", err
	}
	host, rest, _ := strings.Cut(ref, "/")
	repo, tagOrDigest := rest, ""
	if i := strings.IndexAny(rest, "@"); i >= 0 {
		repo, tagOrDigest = rest[:i], rest[i:]
	} else if i := strings.LastIndex(rest, ":"); i >= 0 {
		repo, tagOrDigest = rest[:i], rest[i:]
	}
	eps, err := cfg.endpoints(host, repo)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", registriesFile, err)
	}
	var tried []string
	for _, ep := range eps {
		id, err := pullFrom(ctx, cfg, ep, tagOrDigest, ref, creds, dataDir, now)
		if err == nil {
			return id, nil
		}
		tried = append(tried, fmt.Sprintf("%s://%s: %v", ep.url.Scheme, ep.url.Host, oneLine(err)))
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("failed to pull image %q: tried %s", ref, strings.Join(tried, "; "))
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func pullFrom(ctx context.Context, cfg registriesConfig, ep endpoint, tagOrDigest, ref, creds, dataDir string, now time.Time) (string, error) {
	var nameOpts []name.Option
	if ep.url.Scheme == "http" {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ep.url.Host+"/"+ep.repo+tagOrDigest, nameOpts...)
	if err != nil {
		return "", err
	}
	opts, err := cfg.options(ctx, ep, creds)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	opts = append(opts, remote.WithContext(ctx))
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return "", err
	}
	img, err := desc.Image()
	if err != nil {
		return "", err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	size, err := storeImage(dataDir, img)
	if err != nil {
		return "", fmt.Errorf("store %s: %w", ref, err)
	}
	platform := "linux/" + runtime.GOARCH
	found := []archiveImage{{Refs: []string{ref}, Digest: desc.Digest.String(), MediaType: string(desc.MediaType),
		ConfigDigest: cfgName.String(), Size: size + desc.Size, Platforms: []string{platform}}}
	if _, err := addImages(dataDir, "k8s.io", found, now); err != nil {
		return "", err
	}
	return cfgName.String(), nil
}

// storeImage writes the image's config and layers into the content store,
// skipping blobs already there (images share layers), and returns their
// total size.
func storeImage(dataDir string, img v1.Image) (int64, error) {
	dir := contentDir(dataDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return 0, err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return 0, err
	}
	if err := writeFileAtomic(filepath.Join(dir, cfgName.Hex), raw, 0o644); err != nil {
		return 0, err
	}
	total := int64(len(raw))
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return 0, err
		}
		n, err := l.Size()
		if err != nil {
			return 0, err
		}
		total += n
		p := filepath.Join(dir, d.Hex)
		if fi, err := os.Stat(p); err == nil && fi.Size() == n {
			continue
		}
		if err := writeBlob(p, l); err != nil {
			return 0, fmt.Errorf("layer %s: %w", d, err)
		}
	}
	return total, nil
}

// writeBlob streams a layer to p by way of a temporary file, so a pull cut
// short leaves no truncated blob that a later pull would trust.
func writeBlob(p string, l v1.Layer) error {
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.CreateTemp(filepath.Dir(p), ".ingest-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	// A large buffer: os.File's ReadFrom would copy in 32 KiB writes.
	if _, err := io.CopyBuffer(struct{ io.Writer }{f}, rc, make([]byte, 1<<20)); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}
