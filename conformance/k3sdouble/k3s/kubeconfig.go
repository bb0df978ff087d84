package k3s

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// writeKubeconfig writes the admin kubeconfig the way k3s does: cluster, user
// and context all named "default", certificates embedded.
func writeKubeconfig(path, mode, server string, caPEM, certPEM, keyPEM []byte) error {
	perm := os.FileMode(0o600)
	if mode != "" {
		m, err := strconv.ParseUint(mode, 8, 32)
		if err != nil {
			return fmt.Errorf("invalid write-kubeconfig-mode %q: %w", mode, err)
		}
		perm = os.FileMode(m)
	}
	b64 := base64.StdEncoding.EncodeToString
	data := fmt.Sprintf(`apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: %s
    client-key-data: %s
`, b64(caPEM), server, b64(certPEM), b64(keyPEM))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	// Written in place, not renamed over: the path may be a bind mount.
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if err := os.Chmod(path, perm); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
