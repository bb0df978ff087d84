package k3s

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// peers keeps the servers' node registries and ConfigMaps in step: a
// server tells the other servers about each registration or write as it
// happens (push), and asks them for their records every few seconds (pull),
// which heals whatever a push missed while a server was down. A kubeconfig
// pointing at any server, directly or through a load balancer, therefore
// lists every node and reads every ConfigMap.
type peers struct {
	self   string
	token  string
	reg    *registry
	cms    *configMapStore
	client *http.Client
}

const (
	nodesSyncPath      = "/v1-k3s/nodes"
	configMapsSyncPath = "/v1-k3s/configmaps"
)

func newPeers(self, tok string, ca *authority, reg *registry, cms *configMapStore) *peers {
	return &peers{self: self, token: tok, reg: reg, cms: cms, client: clusterClient(ca, 3*time.Second)}
}

// clusterClient talks to other nodes, trusting the cluster CA only.
func clusterClient(ca *authority, timeout time.Duration) *http.Client {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != nil {
		// Names are not checked: servers are reached by address and
		// through load balancers; the CA is what proves them.
		tlsCfg.InsecureSkipVerify = true
		tlsCfg.VerifyPeerCertificate = verifyChain(ca.pool())
	} else {
		// Before the CA is known (a node's first contact), the token is
		// what is checked, and the CA hash in a K10 token afterwards.
		tlsCfg.InsecureSkipVerify = true
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:     tlsCfg,
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			TLSHandshakeTimeout: 3 * time.Second,
			MaxIdleConnsPerHost: 2,
		},
	}
}

func peerURL(rec NodeRecord) string {
	return "https://" + net.JoinHostPort(rec.InternalIP, strconv.Itoa(rec.APIPort))
}

// others are the servers to keep in step with, except skip.
func (p *peers) others(skip string) []NodeRecord {
	var out []NodeRecord
	for _, rec := range p.reg.live() {
		if rec.Server && rec.Name != p.self && rec.Name != skip && rec.InternalIP != "" && rec.APIPort != 0 {
			out = append(out, rec)
		}
	}
	return out
}

// push sends node records to every other server (but skip).
func (p *peers) push(ctx context.Context, recs []NodeRecord, skip string) {
	p.send(ctx, nodesSyncPath, recs, skip)
}

// pushConfigMaps sends ConfigMap records to every other server.
func (p *peers) pushConfigMaps(ctx context.Context, recs ...ConfigMapRecord) {
	p.send(ctx, configMapsSyncPath, recs, "")
}

// send posts records to path on every other server (but skip) and waits
// for them, briefly: a server that is down catches up by pulling when it is
// back.
func (p *peers) send(ctx context.Context, path string, recs any, skip string) {
	if p == nil {
		return
	}
	body, err := json.Marshal(recs)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, peer := range p.others(skip) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, peerURL(peer)+path, bytes.NewReader(body))
			if err != nil {
				return
			}
			req.Header.Set("Authorization", "Bearer "+p.token)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := p.client.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
}

// pull merges every other server's records into ours.
func (p *peers) pull(ctx context.Context) {
	var wg sync.WaitGroup
	for _, peer := range p.others("") {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var nodes []NodeRecord
			if fetchRecords(ctx, p.client, peerURL(peer)+nodesSyncPath, p.token, &nodes) == nil {
				_, _ = p.reg.merge(nodes...)
			}
			var cms []ConfigMapRecord
			if fetchRecords(ctx, p.client, peerURL(peer)+configMapsSyncPath, p.token, &cms) == nil {
				_, _ = p.cms.merge(cms...)
			}
		}()
	}
	wg.Wait()
}

func (p *peers) run(ctx context.Context, every time.Duration) {
	tick(ctx, every, func() { p.pull(ctx) })
}

// tick runs fn every interval until ctx ends.
func tick(ctx context.Context, every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// fetchRecords decodes the records a peer serves at url into out.
func fetchRecords(ctx context.Context, c *http.Client, url, tok string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode records from %s: %w", url, err)
	}
	return nil
}
