package loadbalancer

import (
	"io"
	"strings"
	"testing"
	"time"
)

// settings.workerConnections bounds the connections carried at once: one
// more is closed without reaching an upstream, and a slot that frees up is
// used again.
func TestTCPWorkerConnections(t *testing.T) {
	b := newBackend(t, "server-0")
	r := startProxy(t, testOptions(), 1, func(p []uint16) Config {
		return Config{Listeners: []Listener{{Port: p[0], Protocol: "tcp", Upstreams: []string{b.addr}}}, Settings: Settings{WorkerConnections: 2}}
	})
	_, first := greeting(t, r.addr(0))
	greeting(t, r.addr(0))
	c, err := dialTCP(r.addr(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(c); len(got) != 0 || err != nil {
		t.Fatalf("third connection read %q, %v; want it closed at once", got, err)
	}
	r.log.wait(0, "all 2 connections of settings.workerConnections are in use")
	if n := b.conns.Load(); n != 2 {
		t.Errorf("the upstream got %d connections, want 2", n)
	}
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := dialTCP(r.addr(0))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 9)
		_, err = io.ReadFull(c, buf)
		c.Close()
		if err == nil && string(buf) == "server-0\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection got through after one of the two ended")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settings.defaultProxyTimeout ends a connection that carried nothing
// either way for that long, and not one that keeps talking.
func TestTCPDefaultProxyTimeout(t *testing.T) {
	b := newBackend(t, "server-0")
	r := startProxy(t, testOptions(), 1, func(p []uint16) Config {
		return Config{Listeners: []Listener{{Port: p[0], Protocol: "tcp", Upstreams: []string{b.addr}}}, Settings: Settings{DefaultProxyTimeout: 1}}
	})
	_, c := greeting(t, r.addr(0))
	buf := make([]byte, 4)
	for range 4 {
		time.Sleep(400 * time.Millisecond)
		io.WriteString(c, "ping")
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("an active connection: read %q, %v; want the echo", buf, err)
		}
	}
	start := time.Now()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("an idle connection got data, want it ended")
	}
	if took := time.Since(start); took < 900*time.Millisecond || took > 3*time.Second {
		t.Errorf("an idle connection ended after %v, want about 1s", took)
	}
	// The half-close still travels with a timeout set.
	_, c = greeting(t, r.addr(0))
	io.WriteString(c, "ping")
	c.CloseWrite()
	if rest, err := io.ReadAll(c); err != nil || string(rest) != "ping" {
		t.Fatalf("after half-close read %q, %v; want \"ping\" then EOF", rest, err)
	}
}

// Overrides take k3d v5's dotted paths and survive the file's round trip;
// anything else is refused naming what there is.
func TestSettingsOverrides(t *testing.T) {
	var s Settings
	for _, kv := range []string{"settings.workerConnections=2048", "settings.defaultProxyTimeout = 900"} {
		if err := s.ApplyOverride(kv); err != nil {
			t.Fatalf("%s: %v", kv, err)
		}
	}
	if s != (Settings{WorkerConnections: 2048, DefaultProxyTimeout: 900}) {
		t.Fatalf("settings %+v", s)
	}
	cfg := Config{Listeners: []Listener{{Port: 6443, Protocol: "tcp", Upstreams: []string{"k3d-dev-server-0:6443"}}}, Settings: s}
	raw, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"workerConnections": 2048`) {
		t.Errorf("file lacks k3d's setting name:\n%s", raw)
	}
	back, err := Parse(raw)
	if err != nil || back.Settings != s {
		t.Fatalf("round trip: %+v, %v", back.Settings, err)
	}
	for kv, want := range map[string]string{
		"settings.workerConnections":      "KEY=VALUE",
		"settings.keepalive=5":            "settings.defaultProxyTimeout and settings.workerConnections",
		"settings.workerConnections=many": "whole number",
		"settings.defaultProxyTimeout=0":  "at least 1",
		"ports.80.tcp=k3d-dev-agent-0:80": "unknown setting",
	} {
		if err := new(Settings).ApplyOverride(kv); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", kv, err, want)
		}
	}
}
