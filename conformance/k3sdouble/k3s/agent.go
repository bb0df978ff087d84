package k3s

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"
)

// runAgent is `k3s agent`: a worker node that registers with a server.
func runAgent(ctx context.Context, env Env, log *logger, args []string) error {
	cfg, err := parseConfig(false, args, env.Getenv)
	if err != nil {
		return err
	}
	log.Infof("Starting k3s agent %s (double)", Version)
	for _, f := range cfg.ignored {
		log.Warnf("Flag %s is accepted and ignored by the k3s test double", f)
	}
	if cfg.serverURL == "" {
		return errors.New("--server is required")
	}
	rawToken, err := readToken(cfg.token, cfg.tokenFile)
	if err != nil {
		return err
	}
	if rawToken == "" {
		return errors.New("--token is required")
	}
	base, err := normalizeURL(cfg.serverURL)
	if err != nil {
		return err
	}
	if err := hostChecks(cfg, env); err != nil {
		return err
	}
	self, err := nodeIdentity(cfg, env)
	if err != nil {
		return err
	}
	importAirgapImages(env, log, cfg.dataDir)
	self.SandboxError = sandboxError(env, cfg.dataDir)

	caPEM, err := getCACerts(ctx, log, base, rawToken)
	if err != nil {
		return err
	}
	ca, err := trustAuthority(caPEM)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(cfg.dataDir, "agent", "server-ca.crt"), caPEM, 0o644); err != nil && !os.IsPermission(err) {
		return err
	}
	resp, err := registerWith(ctx, log, ca, base, rawToken, self)
	if err != nil {
		return err
	}
	if self.SandboxError != "" {
		log.Errorf("Failed to create pod sandboxes on node %s: %s", self.Name, self.SandboxError)
	}
	log.kubelet("kubelet_node_status.go:79", "Successfully registered node", "node", self.Name)
	serveIngress(ctx, env, log, cfg, self.Name, self.SandboxError)

	// Like k3s's client-side load balancer, the agent knows every server
	// and reports to the next one when the one it was given is down.
	servers := serverURLs(base, resp.Nodes)
	client := clusterClient(ca, 5*time.Second)
	t := time.NewTicker(env.heartbeat())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Infof("Shutting down k3s agent")
			return nil
		case <-t.C:
		}
		for _, srv := range servers {
			known, err := heartbeatTo(ctx, client, srv, rawToken, self.Name)
			if err != nil {
				continue
			}
			if !known {
				// The server lost or deleted this node: register
				// again, as the kubelet does.
				resp, err := registerWith(ctx, log, ca, srv, rawToken, self)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				servers = serverURLs(base, resp.Nodes)
				log.kubelet("kubelet_node_status.go:79", "Successfully registered node", "node", self.Name)
			}
			break
		}
	}
}

// serverURLs is the server the node was given, then every other server.
func serverURLs(base string, nodes []NodeRecord) []string {
	urls := []string{base}
	for _, n := range nodes {
		if n.Server && !n.Deleted && n.InternalIP != "" && n.APIPort != 0 {
			if u := peerURL(n); u != base {
				urls = append(urls, u)
			}
		}
	}
	return urls
}
