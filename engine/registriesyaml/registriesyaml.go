// Package registriesyaml reads, merges and writes k3s's registries.yaml
// (/etc/rancher/k3s/registries.yaml), which tells a node's containerd where
// to pull each registry's images from.
package registriesyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Path is where k3s reads the file in a node.
const Path = "/etc/rancher/k3s/registries.yaml"

// Config is a registries.yaml, with k3s's field names.
type Config struct {
	Mirrors map[string]Mirror         `yaml:"mirrors,omitempty"`
	Configs map[string]RegistryConfig `yaml:"configs,omitempty"`
}

// Mirror lists where to pull a registry's images from, in order.
type Mirror struct {
	Endpoints []string          `yaml:"endpoint,omitempty"`
	Rewrites  map[string]string `yaml:"rewrite,omitempty"`
}

// RegistryConfig is how to talk to one registry host.
type RegistryConfig struct {
	Auth *Auth `yaml:"auth,omitempty"`
	TLS  *TLS  `yaml:"tls,omitempty"`
}

// Auth holds a registry's credentials.
type Auth struct {
	Username      string `yaml:"username,omitempty"`
	Password      string `yaml:"password,omitempty"`
	Auth          string `yaml:"auth,omitempty"`
	IdentityToken string `yaml:"identity_token,omitempty"`
}

// TLS holds a registry's certificates.
type TLS struct {
	CAFile             string `yaml:"ca_file,omitempty"`
	CertFile           string `yaml:"cert_file,omitempty"`
	KeyFile            string `yaml:"key_file,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
}

// Parse reads a registries.yaml. Fields k3s does not know are errors, so a
// misspelt key ("endpoints") is caught here and not silently ignored by k3s.
func Parse(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty file is an empty config.
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("not a k3s registries.yaml: %s", decodeError(err))
	}
	for host, m := range c.Mirrors {
		if host == "" {
			return Config{}, fmt.Errorf("not a k3s registries.yaml: a mirror has an empty registry name")
		}
		for _, ep := range m.Endpoints {
			if !strings.HasPrefix(ep, "http://") && !strings.HasPrefix(ep, "https://") {
				return Config{}, fmt.Errorf("mirror %s: endpoint %q is not an http:// or https:// URL", host, ep)
			}
		}
	}
	return c, nil
}

// Merge returns base with over's mirrors and configs laid on top: an entry
// of over replaces base's entry for the same registry, as k3d v5 merges a
// user's --registry-config over the mirrors it generates.
func Merge(base, over Config) Config {
	out := Config{Mirrors: maps.Clone(base.Mirrors), Configs: maps.Clone(base.Configs)}
	if len(over.Mirrors) > 0 && out.Mirrors == nil {
		out.Mirrors = map[string]Mirror{}
	}
	maps.Copy(out.Mirrors, over.Mirrors)
	if len(over.Configs) > 0 && out.Configs == nil {
		out.Configs = map[string]RegistryConfig{}
	}
	maps.Copy(out.Configs, over.Configs)
	return out
}

// Empty reports whether c configures nothing.
func (c Config) Empty() bool { return len(c.Mirrors) == 0 && len(c.Configs) == 0 }

// Marshal writes c as YAML, registries in name order.
func (c Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Hosts are the registry names c has mirrors for, sorted.
func (c Config) Hosts() []string {
	out := make([]string, 0, len(c.Mirrors))
	for h := range c.Mirrors {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// notFound is yaml.v3's wording for a field KnownFields refuses.
var notFound = regexp.MustCompile(`field (\S+) not found in type \S+`)

// decodeError says in one line what yaml.v3 says in several: each refused
// field with its line, in k3s's terms.
func decodeError(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = notFound.ReplaceAllString(m, `unknown field "$1"`)
	}
	return strings.Join(msgs, "; ")
}
