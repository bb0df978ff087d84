package docker

import (
	"context"

	"github.com/k3d/k3d/backends/internal/cachefile"
	"github.com/k3d/k3d/backends/internal/caps"
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
	return cachefile.Key(parts...)
}

// privilegesCache prefixes the entries' file names in the cache dir.
const privilegesCache = "docker-privileges"

func (r *Runtime) loadPrivileges(key string) (privileges, bool) {
	var c cachedPrivileges
	if !cachefile.Load(r.cacheDir, privilegesCache, key, &c) || (!c.Full && len(c.Caps) == 0) {
		return privileges{}, false
	}
	return privileges{full: c.Full, caps: c.Caps, missing: c.Missing, unknown: c.Unknown, kmsg: c.Kmsg, how: c.How + ", remembered"}, true
}

// storePrivileges writes the entry; a cache that cannot be written only
// costs the next process a probe.
func (r *Runtime) storePrivileges(key string, p privileges) {
	cachefile.Store(r.cacheDir, privilegesCache, key, cachedPrivileges{Full: p.full, Caps: p.caps, Missing: p.missing, Unknown: p.unknown, Kmsg: p.kmsg, How: p.how})
}
