package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"github.com/k3d/k3d/backends/internal/caps"
	"os"
	"path/filepath"
	"strings"
)

// The privileged-mode probe costs about a second of container starts, on
// exactly the small hosts that need the fallback, and every k3d command runs
// a new backend process. Its answer is kept in a file keyed by everything
// that decides it: the daemon (ID, version), its kernel, and for a local
// daemon this process's capability bounding set. When any of them changes
// the key does, and the next process probes again. A stale "fallback" answer
// is harmless: the fallback only ever asks for less than privileged mode.

// cachedPrivileges is the file's form of privileges.
type cachedPrivileges struct {
	Full    bool     `json:"full"`
	Caps    []string `json:"caps,omitempty"`
	Missing []string `json:"missing,omitempty"`
	Unknown []string `json:"unknown,omitempty"`
	Kmsg    bool     `json:"kmsg"`
	How     string   `json:"how"`
}

// privilegesKey names the cache entry for this daemon; "" when there is no
// cache or the daemon cannot say who it is.
func (r *Runtime) privilegesKey(ctx context.Context) string {
	if r.cacheDir == "" {
		return ""
	}
	sys, err := r.cli.Info(ctx)
	if err != nil || sys.ID == "" {
		return ""
	}
	parts := []string{r.endpoint.host, sys.ID, sys.ServerVersion, sys.KernelVersion}
	if r.endpoint.local() {
		bnd, last, err := localCaps()
		if err != nil {
			return ""
		}
		parts = append(parts, bnd.Names()...)
		parts = append(parts, caps.All(last).Names()...)
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:16])
}

func (r *Runtime) privilegesFile(key string) string {
	return filepath.Join(r.cacheDir, "docker-privileges-"+key+".json")
}

func (r *Runtime) loadPrivileges(key string) (privileges, bool) {
	if key == "" {
		return privileges{}, false
	}
	b, err := os.ReadFile(r.privilegesFile(key))
	if err != nil {
		return privileges{}, false
	}
	var c cachedPrivileges
	if json.Unmarshal(b, &c) != nil || (!c.Full && len(c.Caps) == 0) {
		return privileges{}, false
	}
	return privileges{full: c.Full, caps: c.Caps, missing: c.Missing, unknown: c.Unknown, kmsg: c.Kmsg, how: c.How + ", remembered"}, true
}

// storePrivileges writes the entry atomically; a cache that cannot be written
// only costs the next process a probe.
func (r *Runtime) storePrivileges(key string, p privileges) {
	if key == "" {
		return
	}
	b, err := json.Marshal(cachedPrivileges{Full: p.full, Caps: p.caps, Missing: p.missing, Unknown: p.unknown, Kmsg: p.kmsg, How: p.how})
	if err != nil || os.MkdirAll(r.cacheDir, 0o700) != nil {
		return
	}
	tmp, err := os.CreateTemp(r.cacheDir, ".docker-privileges-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), r.privilegesFile(key)) != nil {
		os.Remove(tmp.Name())
	}
}
