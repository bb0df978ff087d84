// Package loadbalancer is the TCP/UDP proxy that sits in front of a cluster's
// nodes (the serverlb node) and the configuration the engine writes for it.
package loadbalancer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Where the load balancer node reads its configuration. The engine copies the
// file in; the proxy notices the change and applies it without a restart.
const (
	ConfigDir  = "/etc/k3d"
	ConfigFile = "loadbalancer.json"
)

// Config is everything the proxy serves: one listener per port and protocol.
type Config struct {
	Listeners []Listener `json:"listeners"`
	// Hosts are the addresses the engine last saw upstream hosts at (node
	// name to IP). The proxy dials a name at its hint while the runtime's
	// DNS does not answer for it: Podman's aardvark-dns can stop answering
	// for a while when containers come and go, and a node just added has
	// never been looked up yet.
	Hosts map[string]string `json:"hosts,omitempty"`
	// Settings are k3d v5's load balancer settings, which
	// --lb-config-override sets by their dotted path.
	Settings Settings `json:"settings,omitzero"`
}

// Settings tune the proxy with the names and meaning of k3d v5's nginx
// settings; zero keeps the proxy's own behaviour.
type Settings struct {
	// WorkerConnections is how many TCP connections the proxy carries at
	// once; one more is closed at once, as nginx does when its
	// worker_connections are used up. 0 means no limit.
	WorkerConnections int `json:"workerConnections,omitempty"`
	// DefaultProxyTimeout in seconds ends a TCP connection, or a UDP
	// client's session, after that long without data either way (nginx's
	// proxy_timeout). 0 keeps connections open however long they idle, and
	// UDP sessions for 60 s.
	DefaultProxyTimeout int `json:"defaultProxyTimeout,omitempty"`
}

// overrideKeys are the dotted paths ApplyOverride takes, as k3d v5 names them.
var overrideKeys = map[string]func(*Settings) *int{
	"settings.workerConnections":   func(s *Settings) *int { return &s.WorkerConnections },
	"settings.defaultProxyTimeout": func(s *Settings) *int { return &s.DefaultProxyTimeout },
}

// OverrideKeys lists what ApplyOverride accepts, sorted.
func OverrideKeys() []string {
	keys := make([]string, 0, len(overrideKeys))
	for k := range overrideKeys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ApplyOverride sets one setting from k3d v5's KEY=VALUE form
// ("settings.workerConnections=2048").
func (s *Settings) ApplyOverride(kv string) error {
	key, val, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("%q is not KEY=VALUE (e.g. settings.workerConnections=2048)", kv)
	}
	field, known := overrideKeys[strings.TrimSpace(key)]
	if !known {
		return fmt.Errorf("%q: unknown setting %q; the load balancer has %s", kv, key, strings.Join(OverrideKeys(), " and "))
	}
	n, err := strconv.Atoi(strings.TrimSpace(val))
	if err != nil || n < 1 {
		return fmt.Errorf("%q: %s takes a whole number of at least 1", kv, key)
	}
	*field(s) = n
	return nil
}

// Listener accepts on Port (all addresses) and forwards each TCP connection or
// UDP client to one of Upstreams.
type Listener struct {
	Port uint16 `json:"port"`
	// Protocol is "tcp" or "udp".
	Protocol string `json:"protocol"`
	// Upstreams are "host:port"; host is usually a node name that the
	// runtime's DNS resolves, looked up at dial time so that a node that is not
	// running yet is just an upstream that fails.
	Upstreams []string `json:"upstreams"`
}

// Marshal validates the configuration and encodes it with listeners sorted by
// port and protocol and upstreams sorted, so that the same cluster always
// gives the same bytes (the proxy reloads only on a real change).
func (c Config) Marshal() ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	out := Config{Listeners: make([]Listener, len(c.Listeners)), Hosts: c.Hosts, Settings: c.Settings}
	for i, l := range c.Listeners {
		l.Upstreams = slices.Clone(l.Upstreams)
		if l.Upstreams == nil {
			// An empty list reads better in the file than null.
			l.Upstreams = []string{}
		}
		slices.Sort(l.Upstreams)
		out.Listeners[i] = l
	}
	slices.SortFunc(out.Listeners, func(a, b Listener) int {
		if a.Port != b.Port {
			return int(a.Port) - int(b.Port)
		}
		return strings.Compare(a.Protocol, b.Protocol)
	})
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode load balancer config: %w", err)
	}
	return append(b, '\n'), nil
}

// Parse decodes and validates a configuration. Unknown fields are ignored so
// that a proxy from an older k3d keeps working with a newer k3d's file.
func Parse(b []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("decode load balancer config: %w", err)
	}
	if dec.More() {
		return Config{}, errors.New("decode load balancer config: trailing data after the JSON object")
	}
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c Config) validate() error {
	if len(c.Listeners) == 0 {
		return errors.New("load balancer config: no listeners")
	}
	seen := make(map[string]bool, len(c.Listeners))
	for i, l := range c.Listeners {
		if err := l.validate(); err != nil {
			return fmt.Errorf("load balancer config: listener %d: %w", i, err)
		}
		k := l.key().String()
		if seen[k] {
			return fmt.Errorf("load balancer config: listener %d: %s is listed twice", i, k)
		}
		seen[k] = true
	}
	if c.Settings.WorkerConnections < 0 || c.Settings.DefaultProxyTimeout < 0 {
		return fmt.Errorf("load balancer config: settings %+v: negative values", c.Settings)
	}
	for h, ip := range c.Hosts {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("load balancer config: host %s: %q is not an IP address", h, ip)
		}
	}
	return nil
}

func (l Listener) validate() error {
	if l.Port == 0 {
		return errors.New("port 0 is not a port to listen on")
	}
	if l.Protocol != "tcp" && l.Protocol != "udp" {
		return fmt.Errorf("port %d: protocol %q is neither \"tcp\" nor \"udp\"", l.Port, l.Protocol)
	}
	for _, u := range l.Upstreams {
		if err := validateUpstream(u); err != nil {
			return fmt.Errorf("%d/%s: upstream %q: %w", l.Port, l.Protocol, u, err)
		}
	}
	return nil
}

func validateUpstream(u string) error {
	host, port, err := net.SplitHostPort(u)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	if host == "" {
		return errors.New("empty host")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
}

// listenerKey names a listening socket: a port may be served on TCP and UDP
// at once, as two listeners.
type listenerKey struct {
	port     uint16
	protocol string
}

func (l Listener) key() listenerKey { return listenerKey{l.Port, l.Protocol} }

func (k listenerKey) String() string { return fmt.Sprintf("%d/%s", k.port, k.protocol) }
