package podman

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containers/podman/v4/libpod/define"
)

// The process listening on a unix socket is who answers: here, this test.
func TestPeerOfNamesTheListeningProcess(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := peerOf(c)
	if p.pid != os.Getpid() || p.start == "" {
		t.Fatalf("peerOf = %+v, want pid %d with a start time", p, os.Getpid())
	}
}

// A cached answer is used for the same service process within the TTL, and
// never for another process, a later start of it, or after the TTL.
func TestInfoCacheIsKeyedByServiceProcess(t *testing.T) {
	r := &Runtime{endpoint: endpoint{uri: "unix:///run/podman/podman.sock"}, cacheDir: t.TempDir()}
	now := time.Now()
	svc := peerProcess{pid: 4242, start: "1000"}
	in := &define.Info{Host: &define.HostInfo{CgroupsVersion: "v1", NetworkBackend: "netavark"}}
	in.Host.Security.Rootless = true
	r.storeInfo(r.serviceKey(svc), in, now)

	got, ok := r.loadInfo(r.serviceKey(svc), now.Add(time.Minute))
	if !ok || got.Host.CgroupsVersion != "v1" || !got.Host.Security.Rootless {
		t.Fatalf("same service a minute later: got %+v, %v; want the stored info", got, ok)
	}
	for name, tc := range map[string]struct {
		peer peerProcess
		at   time.Time
	}{
		"restarted service (same pid, new start)": {peerProcess{pid: 4242, start: "2000"}, now},
		"another process":                         {peerProcess{pid: 4243, start: "1000"}, now},
		"after the TTL":                           {svc, now.Add(infoCacheTTL + time.Second)},
		"unknown peer (remote)":                   {peerProcess{}, now},
	} {
		if _, ok := r.loadInfo(r.serviceKey(tc.peer), tc.at); ok {
			t.Errorf("%s: the cached info was used", name)
		}
	}
	r.cacheDir = ""
	r.storeInfo(r.serviceKey(svc), in, now)
	if _, ok := r.loadInfo(r.serviceKey(svc), now); ok {
		t.Error("without a cache dir the info was cached")
	}
}
