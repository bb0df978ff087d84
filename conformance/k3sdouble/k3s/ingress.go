package k3s

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"
)

// serveIngress plays the part of k3s's bundled traefik behind servicelb: every
// node answers HTTP on port 80, so a port published through k3d's load
// balancer (-p 8080:80@loadbalancer) reaches a node. It names the node that
// answered. Like the real thing it is absent when traefik or servicelb is
// disabled, and when pod sandboxes cannot start on this host.
func serveIngress(ctx context.Context, env Env, log *logger, cfg *config, node, sandboxError string) {
	if env.IngressAddr == "" || sandboxError != "" ||
		slices.Contains(cfg.disable, "traefik") || slices.Contains(cfg.disable, "servicelb") {
		return
	}
	ln, err := net.Listen("tcp", env.IngressAddr)
	if err != nil {
		log.Errorf("ingress: listen on %s: %v", env.IngressAddr, err)
		return
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "k3s-double ingress on node %s\n", node)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Errorf("ingress: %v", err)
		}
	}()
}
