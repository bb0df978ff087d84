package loadbalancer

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// An upstream whose name stops resolving (aardvark-dns reloading) keeps
// getting connections at the address it resolved to before.
func TestResolverFallsBackToLastAddress(t *testing.T) {
	port := acceptingPort(t)

	dnsUp := true
	r := newResolver()
	r.lookup = func(ctx context.Context, host string) ([]string, error) {
		if host != "k3d-dev-server-0" || !dnsUp {
			return nil, &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true}
		}
		return []string{"127.0.0.1"}, nil
	}
	d := &net.Dialer{Timeout: time.Second}
	addr := net.JoinHostPort("k3d-dev-server-0", port)

	if _, _, err := r.dial(context.Background(), d, "tcp", net.JoinHostPort("k3d-dev-agent-9", port)); err == nil {
		t.Fatal("dial of a name that never resolved succeeded")
	}
	c, news, err := r.dial(context.Background(), d, "tcp", addr)
	if err != nil || news {
		t.Fatalf("dial while DNS answers: news=%v err=%v", news, err)
	}
	c.Close()

	dnsUp = false
	for i, wantNews := range []bool{true, false} {
		c, news, err := r.dial(context.Background(), d, "tcp", addr)
		if err != nil {
			t.Fatalf("dial %d while DNS fails: want the last address, got %v", i, err)
		}
		c.Close()
		if news != wantNews {
			t.Errorf("dial %d while DNS fails: news=%v, want %v (one log line per outage)", i, news, wantNews)
		}
	}

	// Once the name is dropped from every listener, its address is forgotten.
	r.forget(map[string]bool{})
	_, _, err = r.dial(context.Background(), d, "tcp", addr)
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) {
		t.Fatalf("dial after forget while DNS fails: want the DNS error, got %v", err)
	}
}

// A node the engine gave an address for is reachable while its name has
// never resolved, and a refresh made while DNS answers is what a later
// outage falls back on.
func TestResolverUsesHintsAndRefreshedAddresses(t *testing.T) {
	port := acceptingPort(t)
	dnsUp := false
	r := newResolver()
	r.lookup = func(ctx context.Context, host string) ([]string, error) {
		if !dnsUp {
			return nil, &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true}
		}
		return []string{"127.0.0.1"}, nil
	}
	d := &net.Dialer{Timeout: time.Second}

	r.hint("k3d-dev-agent-3", "127.0.0.1")
	if c, _, err := r.dial(context.Background(), d, "tcp", net.JoinHostPort("k3d-dev-agent-3", port)); err != nil {
		t.Fatalf("dial a hinted node while DNS is down: %v", err)
	} else {
		c.Close()
	}

	dnsUp = true
	r.refresh(context.Background(), []string{"k3d-dev-agent-4", "10.0.0.1"}, time.Second)
	dnsUp = false
	if c, _, err := r.dial(context.Background(), d, "tcp", net.JoinHostPort("k3d-dev-agent-4", port)); err != nil {
		t.Fatalf("dial a refreshed node while DNS is down: %v", err)
	} else {
		c.Close()
	}
}

// acceptingPort is a loopback port that accepts (and closes) connections
// until the test ends.
func acceptingPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
