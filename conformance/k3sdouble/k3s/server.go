package k3s

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// adminKubeconfig is where a server keeps its admin kubeconfig.
func adminKubeconfig(dataDir string) string {
	return filepath.Join(dataDir, "server", "cred", "admin.kubeconfig")
}

const (
	defaultKubeconfig = "/etc/rancher/k3s/k3s.yaml"
	defaultHeartbeat  = 10 * time.Second
	syncEvery         = 2 * time.Second
)

// runServer is `k3s server`: the first server of a cluster, or with --server
// a server joining one.
func runServer(ctx context.Context, env Env, log *logger, args []string) error {
	cfg, err := parseConfig(true, args, env.Getenv)
	if err != nil {
		return err
	}
	log.Infof("Starting k3s %s (double)", Version)
	for _, f := range cfg.ignored {
		log.Warnf("Flag %s is accepted and ignored by the k3s test double", f)
	}
	if err := checkDatastoreFiles(cfg); err != nil {
		return err
	}
	if err := hostChecks(cfg, env); err != nil {
		return err
	}
	self, err := nodeIdentity(cfg, env)
	if err != nil {
		return err
	}
	st, err := loadServerState(ctx, cfg, log, env.Now())
	if err != nil {
		return err
	}
	reg, err := openRegistry(filepath.Join(cfg.dataDir, "server", "db", "nodes.json"))
	if err != nil {
		return err
	}
	cms, err := openConfigMaps(filepath.Join(cfg.dataDir, "server", "db", "configmaps.json"))
	if err != nil {
		return err
	}
	// A server that once ran etcd keeps running it without --cluster-init.
	if prev, ok := reg.get(self.Name); ok && prev.Etcd && cfg.datastoreEndpoint == "" {
		self.Etcd = true
		self.Labels["node-role.kubernetes.io/etcd"] = "true"
	}
	importAirgapImages(env, log, cfg.dataDir)
	self.SandboxError = sandboxError(env, cfg.dataDir)

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.bindAddress, strconv.Itoa(cfg.httpsPort)))
	if err != nil {
		return fmt.Errorf("starting kubernetes: listen on port %d: %w", cfg.httpsPort, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	self.APIPort = port
	tlsCfg, err := servingTLS(cfg, env, st.ca, self)
	if err != nil {
		ln.Close()
		return err
	}
	p := newPeers(self.Name, st.serverToken.password, st.ca, reg, cms)
	disabled := map[string]bool{}
	for _, d := range cfg.disable {
		disabled[d] = true
	}
	api := &apiServer{log: log, now: env.Now, ca: st.ca, serverToken: st.serverToken, agentToken: st.agentToken,
		reg: reg, cms: cms, peers: p, disabled: disabled, joinable: self.Etcd || cfg.datastoreEndpoint != ""}
	srv := &http.Server{Handler: api.handler(), TLSConfig: tlsCfg, ErrorLog: stdlog.New(io.Discard, "", 0),
		ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	// Stopping is prompt, as k3s's is: open requests are cut, not drained.
	defer srv.Close()
	log.Infof("Running kube-apiserver --advertise-address=%s --secure-port=%d --anonymous-auth=false", self.InternalIP, port)

	kubeconfig := cfg.writeKubeconfig
	if kubeconfig == "" {
		kubeconfig = defaultKubeconfig
	}
	server := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := writeKubeconfig(kubeconfig, cfg.writeKubeconfigMode, server, st.ca.certPEM, st.adminCert, st.adminKey); err != nil {
		return err
	}
	log.Infof("Wrote kubeconfig %s", kubeconfig)
	// Like k3s's own admin credentials: the bundled kubectl falls back to
	// them when the kubeconfig was written elsewhere (k3d writes it to /output).
	if err := writeKubeconfig(adminKubeconfig(cfg.dataDir), "600", server, st.ca.certPEM, st.adminCert, st.adminKey); err != nil {
		return err
	}

	rec, err := reg.register(self, env.Now())
	if err != nil {
		return fmt.Errorf("register node %s: %w", self.Name, err)
	}
	if cfg.serverURL != "" {
		if err := joinUpstream(ctx, log, cfg, st, reg, rec); err != nil {
			return err
		}
	}
	// Peers may know this server by an address it had before a restart.
	p.push(ctx, []NodeRecord{rec}, "")

	log.Infof("k3s is up and running")
	if self.SandboxError != "" {
		log.Errorf("Failed to create pod sandboxes on node %s: %s", self.Name, self.SandboxError)
	}
	log.kubelet("kubelet_node_status.go:79", "Successfully registered node", "node", self.Name)
	serveIngress(ctx, env, log, cfg, self.Name, self.SandboxError)

	go p.run(ctx, syncEvery)
	if err := syncCoreDNS(ctx, cms, reg, p, env.Now()); err != nil {
		log.Errorf("Failed to update CoreDNS NodeHosts: %v", err)
	}
	go runCoreDNS(ctx, log, cms, reg, p, env.Now, syncEvery)
	go tick(ctx, env.heartbeat(), func() {
		if ok, _ := reg.heartbeat(self.Name, env.Now()); !ok {
			// Deleted from the cluster: a kubelet registers again.
			rec, err := reg.register(self, env.Now())
			if err == nil {
				p.push(ctx, []NodeRecord{rec}, "")
			}
		}
	})
	select {
	case <-ctx.Done():
		log.Infof("Shutting down k3s")
		return nil
	case err := <-serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("kube-apiserver exited: %w", err)
	}
}

// joinUpstream registers this server with the server it joined, and takes
// the cluster's node list from it. After a restart the server already knows
// the cluster, so it does not wait for the upstream server to be back.
func joinUpstream(ctx context.Context, log *logger, cfg *config, st *serverState, reg *registry, rec NodeRecord) error {
	base, err := normalizeURL(cfg.serverURL)
	if err != nil {
		return err
	}
	rawToken, err := readToken(cfg.token, cfg.tokenFile)
	if err != nil {
		return err
	}
	if rawToken == "" {
		rawToken = st.serverToken.password
	}
	do := func(ctx context.Context) error {
		resp, err := registerWith(ctx, log, st.ca, base, rawToken, rec)
		if err != nil {
			return err
		}
		_, err = reg.merge(resp.Nodes...)
		return err
	}
	if !st.reused {
		return do(ctx)
	}
	go func() {
		if err := do(ctx); err != nil && ctx.Err() == nil {
			log.Errorf("Failed to register with %s: %v", base, err)
		}
	}()
	return nil
}

// servingTLS makes a serving certificate for this server from the cluster
// CA, with every name and address a client may use to reach it, and asks
// clients for certificates from the same CA.
func servingTLS(cfg *config, env Env, ca *authority, self NodeRecord) (*tls.Config, error) {
	dns := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost", self.Name}
	if self.Hostname != "" && self.Hostname != self.Name {
		dns = append(dns, self.Hostname)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 43, 0, 1)}
	for _, s := range []string{self.InternalIP, self.ExternalIP} {
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		}
	}
	if env.Host.Addrs != nil {
		ips = append(ips, env.Host.Addrs()...)
	}
	for _, san := range cfg.tlsSANs {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, strings.ToLower(san))
		}
	}
	certPEM, keyPEM, err := ca.issue(env.Now(), certRequest{commonName: "kube-apiserver", dnsNames: dns, ips: ips, server: true})
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		// Requests without a certificate still get through the handshake:
		// nodes joining with the token have none yet, and an anonymous
		// request gets k3s's 401 rather than a TLS error.
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  ca.pool(),
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
	}, nil
}

// checkDatastoreFiles fails as k3s does when a datastore TLS file given
// cannot be read.
func checkDatastoreFiles(cfg *config) error {
	for _, f := range []string{cfg.datastoreCAFile, cfg.datastoreCertFile, cfg.datastoreKeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.ReadFile(f); err != nil {
			return fmt.Errorf("starting kubernetes: preparing server: creating storage endpoint: building kine: %w", err)
		}
	}
	return nil
}
