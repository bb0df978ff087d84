package loadbalancer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigChangesKeepEstablishedConnections(t *testing.T) {
	s0, s1 := newBackend(t, "server-0"), newBackend(t, "server-1")
	r := startProxy(t, testOptions(), 2, func(p []uint16) Config {
		return Config{Listeners: []Listener{{Port: p[0], Protocol: "tcp", Upstreams: []string{s0.addr}}}}
	})
	api := r.addr(0)
	name, kept := greeting(t, api)
	if name != "server-0" {
		t.Fatalf("reached %s", name)
	}
	echo(t, kept, "before")

	// A server joins and a port is added, as `create node` and a new
	// @loadbalancer port would do.
	m := r.log.mark()
	r.write(t, Config{Listeners: []Listener{
		{Port: r.ports[0], Protocol: "tcp", Upstreams: []string{s0.addr, s1.addr}},
		{Port: r.ports[1], Protocol: "tcp", Upstreams: []string{s1.addr}},
	}})
	r.log.wait(m, "reloaded")
	echo(t, kept, "during")
	seen := map[string]bool{}
	for range 4 {
		n, _ := greeting(t, api)
		seen[n] = true
	}
	if !seen["server-0"] || !seen["server-1"] {
		t.Fatalf("after adding server-1 new connections reached %v", seen)
	}
	if n, _ := greeting(t, r.addr(1)); n != "server-1" {
		t.Fatalf("added listener reached %s", n)
	}

	// server-0 leaves and the extra port goes away.
	m = r.log.mark()
	r.write(t, Config{Listeners: []Listener{{Port: r.ports[0], Protocol: "tcp", Upstreams: []string{s1.addr}}}})
	r.log.wait(m, "listener "+(listenerKey{r.ports[1], "tcp"}).String()+" closed")
	if !refused(r.addr(1)) {
		t.Fatal("removed listener still accepts connections")
	}
	for range 3 {
		if n, _ := greeting(t, api); n != "server-1" {
			t.Fatalf("after removing server-0 a new connection reached %s", n)
		}
	}
	// The connection made before any change still works: its upstream was
	// removed from the list, not killed.
	echo(t, kept, "after")
}

func TestInvalidConfigIsIgnored(t *testing.T) {
	s0 := newBackend(t, "server-0")
	r := startProxy(t, testOptions(), 1, func(p []uint16) Config {
		return Config{Listeners: []Listener{{Port: p[0], Protocol: "tcp", Upstreams: []string{s0.addr}}}}
	})
	for _, bad := range []string{`{"listeners":[{"port":1,"protocol":"sctp"}]}`, `{"listen`, ``} {
		m := r.log.mark()
		r.writeRaw(t, []byte(bad))
		r.log.wait(m, "keeping the current config")
		if n, _ := greeting(t, r.addr(0)); n != "server-0" {
			t.Fatalf("after invalid config %q reached %s", bad, n)
		}
	}
	// A missing file (a copy in progress) is no reason to stop either.
	m := r.log.mark()
	os.Remove(r.path)
	r.log.wait(m, "keeping the current config")
	if n, _ := greeting(t, r.addr(0)); n != "server-0" {
		t.Fatalf("with the file gone reached %s", n)
	}
	// Each bad state is logged once, not on every poll.
	time.Sleep(5 * testOptions().poll)
	if n := r.log.count("keeping the current config"); n != 4 {
		t.Errorf("%d 'keeping' lines for 4 bad states", n)
	}
}

func TestCancelStopsEverythingPromptly(t *testing.T) {
	s0 := newBackend(t, "server-0")
	udp := udpBackend(t, "agent-0")
	r := startProxy(t, testOptions(), 1, func(p []uint16) Config {
		return Config{Listeners: []Listener{
			{Port: p[0], Protocol: "tcp", Upstreams: []string{s0.addr}},
			{Port: p[0], Protocol: "udp", Upstreams: []string{udp}},
		}}
	})
	_, c := greeting(t, r.addr(0))
	if got := ask(t, udpClient(t, r.addr(0)), "x", 5*time.Second); got != "agent-0:x" {
		t.Fatalf("udp got %q", got)
	}
	if took := r.stop(t); took > time.Second {
		t.Fatalf("Serve took %v to return after cancel", took)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("open connection after stop: read gave %v, want it closed", err)
	}
	if !refused(r.addr(0)) {
		t.Fatal("port still accepts after stop")
	}
}

func TestServeRefusesToStartWithoutAValidConfig(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.json")
	if err := Serve(context.Background(), missing); err == nil || !strings.Contains(err.Error(), "none.json") {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"listeners":[]}`), 0o644)
	if err := Serve(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "no listeners") {
		t.Fatalf("invalid file: %v", err)
	}
}
