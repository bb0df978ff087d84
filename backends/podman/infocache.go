package podman

import (
	"fmt"
	"os"
	"time"

	"github.com/containers/podman/v4/libpod/define"

	"github.com/k3d/k3d/backends/internal/cachefile"
)

// The service's info takes about 0.3 s to answer (it asks storage and counts
// containers and images), and every k3d command runs a new backend process,
// so each command would pay it again. What k3d needs from it (version,
// rootless, cgroups, network backend, ID mappings) is fixed for the life of
// one service process, so the answer is kept in a file keyed by that
// process: the endpoint and the PID and start time of the process at the
// other end of the socket. A restarted service is another key. Socket
// activation keeps the listening process (systemd) the same across service
// restarts, so an entry is also trusted only for infoCacheTTL.
const infoCacheTTL = 10 * time.Minute

type cachedInfo struct {
	At   time.Time    `json:"at"`
	Info *define.Info `json:"info"`
}

// infoCache prefixes the entries' file names in the cache dir.
const infoCache = "podman-info"

// serviceKey names the cache entry for the service that answered on peer;
// "" when the peer is unknown (a remote service).
func (r *Runtime) serviceKey(peer peerProcess) string {
	if peer.pid <= 0 || peer.start == "" {
		return ""
	}
	return cachefile.Key(r.endpoint.uri, fmt.Sprint(peer.pid), peer.start, fmt.Sprint(os.Geteuid()))
}

func (r *Runtime) loadInfo(key string, now time.Time) (*define.Info, bool) {
	var c cachedInfo
	if !cachefile.Load(r.cacheDir, infoCache, key, &c) || c.Info == nil || c.Info.Host == nil || now.Sub(c.At) > infoCacheTTL || c.At.After(now) {
		return nil, false
	}
	return c.Info, true
}

// storeInfo writes the entry; one that cannot be written only costs the
// next process an info call.
func (r *Runtime) storeInfo(key string, in *define.Info, now time.Time) {
	cachefile.Store(r.cacheDir, infoCache, key, cachedInfo{At: now, Info: in})
}
