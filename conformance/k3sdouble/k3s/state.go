package k3s

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// serverState is what a server keeps under <data-dir>/server so that it
// comes back from a restart as the same cluster: CA, tokens, admin cert.
type serverState struct {
	ca          *authority
	serverToken token
	agentToken  token
	adminCert   []byte
	adminKey    []byte
	// reused is true when the state was there from a previous run.
	reused bool
}

func readToken(value, file string) (string, error) {
	if value != "" || file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("failed to read token file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// loadServerState reads the state a previous run left, bootstraps it from
// the cluster (a joining server), or creates it (the first server).
func loadServerState(ctx context.Context, cfg *config, log *logger, now time.Time) (*serverState, error) {
	dir := filepath.Join(cfg.dataDir, "server")
	tlsDir := filepath.Join(dir, "tls")
	rawToken, err := readToken(cfg.token, cfg.tokenFile)
	if err != nil {
		return nil, err
	}
	rawAgentToken, err := readToken(cfg.agentToken, cfg.agentTokenFile)
	if err != nil {
		return nil, err
	}
	st := &serverState{}
	certPEM, certErr := os.ReadFile(filepath.Join(tlsDir, "server-ca.crt"))
	keyPEM, keyErr := os.ReadFile(filepath.Join(tlsDir, "server-ca.key"))
	switch {
	case certErr == nil && keyErr == nil:
		if st.ca, err = parseAuthority(certPEM, keyPEM); err != nil {
			return nil, err
		}
		stored, err := os.ReadFile(filepath.Join(dir, "token"))
		if err != nil {
			return nil, fmt.Errorf("starting kubernetes: preparing server: read token: %w", err)
		}
		st.serverToken = parseToken(string(stored))
		if rawToken != "" && parseToken(rawToken).password != st.serverToken.password {
			return nil, errors.New("starting kubernetes: preparing server: bootstrap data already found and encrypted with different token")
		}
		st.agentToken = st.serverToken
		if b, err := os.ReadFile(filepath.Join(dir, "agent-token")); err == nil {
			st.agentToken = parseToken(string(b))
		}
		st.reused = true
		log.Infof("Reusing cluster state in %s", dir)
	case !errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("starting kubernetes: preparing server: read CA: %w", certErr)
	case cfg.serverURL != "":
		if rawToken == "" {
			return nil, errors.New("--token is required when joining a cluster with --server")
		}
		base, err := normalizeURL(cfg.serverURL)
		if err != nil {
			return nil, err
		}
		log.Infof("Joining cluster at %s", base)
		data, err := getBootstrap(ctx, log, base, rawToken)
		if err != nil {
			return nil, err
		}
		if st.ca, err = parseAuthority(data.CACert, data.CAKey); err != nil {
			return nil, err
		}
		st.serverToken = token{password: data.Token}
		st.agentToken = token{password: data.AgentToken}
	default:
		if st.ca, err = newAuthority(now); err != nil {
			return nil, err
		}
		log.Infof("generated self-signed CA certificate CN=%s", st.ca.cert.Subject.CommonName)
		st.serverToken = parseToken(rawToken)
		if st.serverToken.password == "" {
			st.serverToken = token{password: randomPassword()}
		}
		st.agentToken = st.serverToken
		if rawAgentToken != "" {
			st.agentToken = parseToken(rawAgentToken)
		}
	}
	if err := st.save(dir, now); err != nil {
		return nil, fmt.Errorf("starting kubernetes: preparing server: save state in %s: %w", dir, err)
	}
	return st, nil
}

func (st *serverState) save(dir string, now time.Time) error {
	tlsDir := filepath.Join(dir, "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return err
	}
	files := map[string][]byte{
		filepath.Join(tlsDir, "server-ca.crt"): st.ca.certPEM,
		filepath.Join(tlsDir, "server-ca.key"): st.ca.keyPEM,
		filepath.Join(dir, "token"):            []byte(st.serverToken.full("server", st.ca.hash()) + "\n"),
		filepath.Join(dir, "node-token"):       []byte(st.serverToken.full("server", st.ca.hash()) + "\n"),
		filepath.Join(dir, "agent-token"):      []byte(st.agentToken.full("node", st.ca.hash()) + "\n"),
	}
	certPath, keyPath := filepath.Join(tlsDir, "client-admin.crt"), filepath.Join(tlsDir, "client-admin.key")
	cert, certErr := os.ReadFile(certPath)
	key, keyErr := os.ReadFile(keyPath)
	if certErr != nil || keyErr != nil || !signedBy(cert, st.ca) {
		var err error
		if cert, key, err = st.ca.issue(now, certRequest{commonName: "system:admin", orgs: []string{"system:masters"}, client: true}); err != nil {
			return err
		}
		files[certPath], files[keyPath] = cert, key
	}
	st.adminCert, st.adminKey = cert, key
	for path, data := range files {
		if err := writeFileAtomic(path, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func signedBy(certPEM []byte, ca *authority) bool {
	c, err := parseCertPEM(certPEM)
	if err != nil {
		return false
	}
	return c.CheckSignatureFrom(ca.cert) == nil
}
