package loadbalancer

import (
	"io"
	"testing"
	"time"
)

func TestTCPRoundRobinsWithHalfClose(t *testing.T) {
	bs := []*backend{newBackend(t, "server-0"), newBackend(t, "server-1"), newBackend(t, "server-2")}
	r := startProxy(t, testOptions(), 1, func(p []uint16) Config {
		return Config{Listeners: []Listener{{Port: p[0], Protocol: "tcp", Upstreams: []string{bs[0].addr, bs[1].addr, bs[2].addr}}}}
	})
	seen := map[string]int{}
	for range 6 {
		name, c := greeting(t, r.addr(0))
		seen[name]++
		// The client stops sending and still gets everything back: the
		// half-close travels through the proxy both ways.
		io.WriteString(c, "ping")
		c.CloseWrite()
		rest, err := io.ReadAll(c)
		if err != nil || string(rest) != "ping" {
			t.Fatalf("after half-close read %q, %v; want \"ping\" then EOF", rest, err)
		}
	}
	for _, b := range bs {
		if seen[b.name] != 2 {
			t.Fatalf("6 connections over 3 upstreams went %v, want 2 each", seen)
		}
	}
}

func TestTCPSkipsUpstreamsThatFail(t *testing.T) {
	live := newBackend(t, "server-1")
	dead := deadAddr(t)
	// A node that is not running yet has no name in the runtime's DNS.
	unresolvable := "k3d-no-such-node.invalid:6443"
	r := startProxy(t, testOptions(), 1, func(p []uint16) Config {
		return Config{Listeners: []Listener{{Port: p[0], Protocol: "tcp", Upstreams: []string{dead, live.addr, unresolvable}}}}
	})
	start := time.Now()
	for range 9 {
		if name, _ := greeting(t, r.addr(0)); name != "server-1" {
			t.Fatalf("connection reached %q", name)
		}
	}
	t.Logf("9 connections with 2 failing upstreams of 3 took %v", time.Since(start))
	// The failures are remembered: each failing upstream was tried (and
	// logged) once, not on every connection.
	for _, a := range []string{dead, unresolvable} {
		if n := r.log.count("upstream " + a + " failed"); n != 1 {
			t.Errorf("upstream %s: %d failure lines, want 1", a, n)
		}
	}
}

func TestTCPWithNoUpstreamAnsweringClosesTheClient(t *testing.T) {
	r := startProxy(t, testOptions(), 1, func(p []uint16) Config {
		return Config{Listeners: []Listener{{Port: p[0], Protocol: "tcp", Upstreams: []string{deadAddr(t)}}}}
	})
	c, err := dialTCP(r.addr(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
		t.Fatalf("read %q, %v; want a plain close", b, err)
	}
	r.log.wait(0, "none of 1 upstreams answered")
}
