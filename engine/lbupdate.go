package engine

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/loadbalancer"
)

// updateLoadBalancer rewrites the load balancer's configuration after nodes
// were added or removed and tells the proxy with SIGHUP (it also notices the
// file change by itself). The API listener always forwards to every server;
// a listener that forwarded to every k3s node before (the @loadbalancer
// default) gets the added nodes too; removed nodes leave every listener.
func (e *Engine) updateLoadBalancer(ctx context.Context, cluster string, added, removed []string) error {
	c, err := e.GetCluster(ctx, cluster)
	if err != nil {
		if backends.IsNotFound(err) {
			return nil
		}
		return err
	}
	lb, ok := c.LoadBalancer()
	if !ok {
		return nil
	}
	cfg := loadbalancer.Config{}
	if raw, err := e.readFile(ctx, lb.Name, loadbalancer.ConfigDir+"/"+loadbalancer.ConfigFile); err == nil {
		if parsed, err := loadbalancer.Parse(raw); err == nil {
			cfg = parsed
		}
	}
	var before []string // k3s nodes before the change
	var servers []string
	for _, n := range c.Nodes {
		if !n.Role.k3sNode() {
			continue
		}
		if n.Role == RoleServer && !slices.Contains(removed, n.Name) {
			servers = append(servers, n.Name)
		}
		if !slices.Contains(added, n.Name) {
			before = append(before, n.Name)
		}
	}
	hasAPI := false
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		if l.Port == apiContainerPort && l.Protocol == "tcp" {
			hasAPI = true
			l.Upstreams = hostPorts(servers, apiContainerPort)
			continue
		}
		port := strconv.Itoa(int(l.Port))
		everyNode := len(before) > 0
		for _, n := range before {
			if !slices.Contains(l.Upstreams, net.JoinHostPort(n, port)) && !slices.Contains(removed, n) {
				everyNode = false
				break
			}
		}
		var ups []string
		for _, u := range l.Upstreams {
			host, _, err := net.SplitHostPort(u)
			if err == nil && slices.Contains(removed, host) {
				continue
			}
			ups = append(ups, u)
		}
		if everyNode {
			for _, n := range added {
				ups = appendUnique(ups, net.JoinHostPort(n, port))
			}
		}
		l.Upstreams = ups
	}
	// Where each node is now, for when the runtime's DNS does not answer
	// (see loadbalancer.Config.Hosts); a node just added has an address
	// only here until the proxy has looked it up.
	cfg.Hosts = map[string]string{}
	for _, n := range c.Nodes {
		if n.Role.k3sNode() && n.IP != "" && !slices.Contains(removed, n.Name) {
			cfg.Hosts[n.Name] = n.IP
		}
	}
	if !hasAPI {
		cfg.Listeners = append(cfg.Listeners, loadbalancer.Listener{Port: apiContainerPort, Protocol: "tcp", Upstreams: hostPorts(servers, apiContainerPort)})
	}
	f, err := lbConfigFile(cfg)
	if err != nil {
		return err
	}
	return e.step("Updating the load balancer", func() error {
		if err := e.writeFiles(ctx, lb.Name, []nodeFile{f}); err != nil {
			return err
		}
		if err := e.rt.KillNode(ctx, lb.Name, "SIGHUP"); err != nil && !backends.IsNotRunning(err) {
			return fmt.Errorf("signal load balancer %s: %w", lb.Name, err)
		}
		return nil
	})
}

func hostPorts(hosts []string, port int) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = net.JoinHostPort(h, strconv.Itoa(port))
	}
	return out
}
