package k3s

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// How nodes join: an agent fetches the CA (/cacerts) and registers; a joining
// server fetches the cluster's CA and tokens (/v1-k3s/server-bootstrap),
// then registers. All nodes start at once under k3d, so every step waits for
// the server to answer; a wrong token ends the node, as it ends k3s.

// permanent marks an error that retrying cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// retry calls fn until it succeeds, fails permanently, or ctx ends, backing
// off from 200ms to 2s and logging the reason now and then.
func retry(ctx context.Context, log *logger, what string, fn func(context.Context) error) error {
	delay := 200 * time.Millisecond
	var lastLogged time.Time
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return p.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(lastLogged) > 10*time.Second {
			log.Infof("%s: %v", what, err)
			lastLogged = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if delay *= 2; delay > 2*time.Second {
			delay = 2 * time.Second
		}
	}
}

func normalizeURL(u string) (string, error) {
	u = strings.TrimRight(strings.TrimSpace(u), "/")
	if !strings.HasPrefix(u, "https://") {
		return "", fmt.Errorf("server url must use https: %q", u)
	}
	return u, nil
}

// get fetches base+path with auth, into out (JSON) or as raw bytes.
func call(ctx context.Context, c *http.Client, method, url, auth string, body any) ([]byte, int, error) {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequestWithContext(ctx, method, url, rd)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, url, nil)
	}
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", auth)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return buf.Bytes(), resp.StatusCode, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return buf.Bytes(), resp.StatusCode, nil
}

// getCACerts is an agent's first contact. A K10 token pins the CA it gets.
func getCACerts(ctx context.Context, log *logger, base, rawToken string) ([]byte, error) {
	c := clusterClient(nil, 5*time.Second)
	var ca []byte
	err := retry(ctx, log, "Waiting to retrieve agent configuration; server is not ready", func(ctx context.Context) error {
		b, code, err := call(ctx, c, http.MethodGet, base+"/cacerts", basicAuth("node", rawToken), nil)
		if code == http.StatusUnauthorized {
			return permanent{fmt.Errorf("failed to get CA certs: %s/cacerts: 401 Unauthorized", base)}
		}
		if err != nil {
			return fmt.Errorf("failed to get CA certs: %w", err)
		}
		ca = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	if t := parseToken(rawToken); t.caHash != "" && t.caHash != caHash(ca) {
		return nil, fmt.Errorf("token CA hash does not match the Cluster CA certificate hash: %s != %s", t.caHash, caHash(ca))
	}
	return ca, nil
}

// getBootstrap is a joining server's first contact.
func getBootstrap(ctx context.Context, log *logger, base, rawToken string) (bootstrapData, error) {
	c := clusterClient(nil, 5*time.Second)
	var data bootstrapData
	url := base + "/v1-k3s/server-bootstrap"
	err := retry(ctx, log, "Waiting for the cluster's first server", func(ctx context.Context) error {
		b, code, err := call(ctx, c, http.MethodGet, url, basicAuth("server", rawToken), nil)
		if code == http.StatusUnauthorized {
			return permanent{fmt.Errorf("starting kubernetes: preparing server: failed to bootstrap cluster data: %s: 401 Unauthorized", url)}
		}
		if err != nil {
			return fmt.Errorf("failed to bootstrap cluster data: %w", err)
		}
		return json.Unmarshal(b, &data)
	})
	if err != nil {
		return data, err
	}
	if t := parseToken(rawToken); t.caHash != "" && t.caHash != caHash(data.CACert) {
		return data, fmt.Errorf("starting kubernetes: preparing server: token CA hash does not match the Cluster CA certificate hash: %s != %s", t.caHash, caHash(data.CACert))
	}
	return data, nil
}

// registerWith registers rec with the server at base, retrying until it answers.
func registerWith(ctx context.Context, log *logger, ca *authority, base, rawToken string, rec NodeRecord) (registerResponse, error) {
	c := clusterClient(ca, 10*time.Second)
	user := "node"
	if rec.Server {
		user = "server"
	}
	var out registerResponse
	err := retry(ctx, log, "Waiting to register node "+rec.Name, func(ctx context.Context) error {
		b, code, err := call(ctx, c, http.MethodPost, base+"/v1-k3s/register", basicAuth(user, rawToken), rec)
		if code == http.StatusUnauthorized {
			return permanent{fmt.Errorf("failed to register node %s: %s/v1-k3s/register: 401 Unauthorized", rec.Name, base)}
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &out)
	})
	return out, err
}

// heartbeatTo tells the server the node is alive; false if it does not know
// the node (it lost its state, or the node was deleted), which calls for
// registering again.
func heartbeatTo(ctx context.Context, c *http.Client, base, rawToken, name string) (bool, error) {
	_, code, err := call(ctx, c, http.MethodPost, base+"/v1-k3s/heartbeat", basicAuth("node", rawToken), map[string]string{"name": name})
	if code == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}
