// Package kubeconfig turns the kubeconfig k3s writes into k3d's entries and merges them into users' kubeconfig files without losing anyone's entries.
package kubeconfig

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ContextName is the name of a k3d cluster's context and cluster entry, as k3d v5 writes
// it, so existing `kubectl --context k3d-dev` habits keep working.
func ContextName(clusterName string) string { return "k3d-" + clusterName }

// UserName is the name of a k3d cluster's user entry, as k3d v5 writes it.
func UserName(clusterName string) string { return "admin@k3d-" + clusterName }

// FromK3s turns the kubeconfig a k3s server writes (cluster, user and context all named
// "default", server https://127.0.0.1:6443) into the one k3d hands out: cluster and
// context k3d-NAME, user admin@k3d-NAME, current-context k3d-NAME, and the server URL
// replaced by server, the API endpoint as published on the host.
//
// server is a URL or host:port ("https://127.0.0.1:34567", "0.0.0.0:6443",
// "[::1]:6443"); https is the only scheme. An unspecified host (0.0.0.0, ::) becomes the
// loopback address of its family: a client cannot dial 0.0.0.0 everywhere (macOS,
// Windows), while 127.0.0.1 is in every k3s serving certificate.
func FromK3s(raw []byte, clusterName string, server string) (*clientcmdapi.Config, error) {
	if clusterName == "" {
		return nil, fmt.Errorf("kubeconfig from k3s: empty cluster name")
	}
	serverURL, err := apiURL(server)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig for cluster %s: %w", clusterName, err)
	}
	in, err := clientcmd.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig for cluster %s: read what k3s wrote: %w", clusterName, err)
	}
	entry, err := pickContext(in)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig for cluster %s: %w", clusterName, err)
	}
	cluster, ok := in.Clusters[entry.Cluster]
	if !ok {
		return nil, fmt.Errorf("kubeconfig for cluster %s: k3s's context names cluster %q, which it does not define", clusterName, entry.Cluster)
	}
	user, ok := in.AuthInfos[entry.AuthInfo]
	if !ok {
		return nil, fmt.Errorf("kubeconfig for cluster %s: k3s's context names user %q, which it does not define", clusterName, entry.AuthInfo)
	}

	name, userName := ContextName(clusterName), UserName(clusterName)
	cluster = cluster.DeepCopy()
	cluster.Server = serverURL
	cluster.LocationOfOrigin = ""
	user = user.DeepCopy()
	user.LocationOfOrigin = ""
	entry = entry.DeepCopy()
	entry.Cluster, entry.AuthInfo, entry.LocationOfOrigin = name, userName, ""

	out := clientcmdapi.NewConfig()
	out.Clusters[name] = cluster
	out.AuthInfos[userName] = user
	out.Contexts[name] = entry
	out.CurrentContext = name
	return out, nil
}

// pickContext finds the context k3s meant: its current-context, or its only context.
func pickContext(cfg *clientcmdapi.Config) (*clientcmdapi.Context, error) {
	if c, ok := cfg.Contexts[cfg.CurrentContext]; ok {
		return c, nil
	}
	if len(cfg.Contexts) == 1 {
		for _, c := range cfg.Contexts {
			return c, nil
		}
	}
	return nil, fmt.Errorf("k3s's kubeconfig has %d contexts and no usable current-context, so k3d cannot tell which is the cluster's", len(cfg.Contexts))
}

// apiURL normalises the published API endpoint into the server URL clients use.
func apiURL(server string) (string, error) {
	raw := server
	if !strings.Contains(server, "://") {
		raw = "https://" + server
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("API server address %q is not a URL or host:port: write e.g. https://127.0.0.1:6443", server)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("API server address %q uses %s: the k3s API speaks only https", server, u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", fmt.Errorf("API server address %q has no host: write e.g. https://127.0.0.1:6443", server)
	}
	if addr, err := netip.ParseAddr(host); err == nil && addr.IsUnspecified() {
		host = "127.0.0.1"
		if addr.Is6() {
			host = "::1"
		}
	}
	if port != "" {
		u.Host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		u.Host = "[" + host + "]"
	} else {
		u.Host = host
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u.String(), nil
}

// Encode renders cfg as kubeconfig YAML, for `k3d get kubeconfig --output -`.
func Encode(cfg *clientcmdapi.Config) ([]byte, error) {
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig: %w", err)
	}
	return data, nil
}
