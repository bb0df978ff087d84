package podman

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containers/podman/v4/libpod/define"
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

// serviceKey names the cache entry for the service that answered on peer;
// "" when there is no cache or the peer is unknown (a remote service).
func (r *Runtime) serviceKey(peer peerProcess) string {
	if r.cacheDir == "" || peer.pid <= 0 || peer.start == "" {
		return ""
	}
	parts := []string{r.endpoint.uri, fmt.Sprint(peer.pid), peer.start, fmt.Sprint(os.Geteuid())}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:16])
}

func (r *Runtime) infoFile(key string) string {
	return filepath.Join(r.cacheDir, "podman-info-"+key+".json")
}

func (r *Runtime) loadInfo(key string, now time.Time) (*define.Info, bool) {
	if key == "" {
		return nil, false
	}
	b, err := os.ReadFile(r.infoFile(key))
	if err != nil {
		return nil, false
	}
	var c cachedInfo
	if json.Unmarshal(b, &c) != nil || c.Info == nil || c.Info.Host == nil || now.Sub(c.At) > infoCacheTTL || c.At.After(now) {
		return nil, false
	}
	return c.Info, true
}

// storeInfo writes the entry atomically; one that cannot be written only
// costs the next process an info call.
func (r *Runtime) storeInfo(key string, in *define.Info, now time.Time) {
	if key == "" {
		return
	}
	b, err := json.Marshal(cachedInfo{At: now, Info: in})
	if err != nil {
		return
	}
	if err := os.MkdirAll(r.cacheDir, 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(r.cacheDir, ".podman-info-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), r.infoFile(key)) != nil {
		os.Remove(tmp.Name())
	}
}
