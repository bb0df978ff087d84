package loadbalancer

import (
	"net"
	"strings"
	"testing"
	"time"
)

// udpBackend answers each datagram with its name, a colon and the datagram.
func udpBackend(t *testing.T, name string) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(append([]byte(name+":"), buf[:n]...), from)
		}
	}()
	return c.LocalAddr().String()
}

func udpClient(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}

// ask sends msg and waits up to wait for an answer; "" when none came.
func ask(t *testing.T, c *net.UDPConn, msg string, wait time.Duration) string {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("send datagram: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func TestUDPSessionsStickToOneUpstreamEach(t *testing.T) {
	a, b := udpBackend(t, "agent-0"), udpBackend(t, "agent-1")
	r := startProxy(t, testOptions(), 1, func(p []uint16) Config {
		return Config{Listeners: []Listener{{Port: p[0], Protocol: "udp", Upstreams: []string{a, b}}}}
	})
	c1, c2 := udpClient(t, r.addr(0)), udpClient(t, r.addr(0))
	first1 := ask(t, c1, "hello", 5*time.Second)
	first2 := ask(t, c2, "hello", 5*time.Second)
	if !strings.HasSuffix(first1, ":hello") || !strings.HasSuffix(first2, ":hello") {
		t.Fatalf("answers %q and %q", first1, first2)
	}
	name1, name2 := strings.TrimSuffix(first1, ":hello"), strings.TrimSuffix(first2, ":hello")
	if name1 == name2 {
		t.Fatalf("two clients both went to %s; want one per upstream", name1)
	}
	for i := range 5 {
		msg := strings.Repeat("x", i+1)
		if got := ask(t, c1, msg, 5*time.Second); got != name1+":"+msg {
			t.Fatalf("client 1 datagram %d answered %q, want it from %s", i, got, name1)
		}
	}
}

func TestUDPSkipsAnUpstreamThatRefuses(t *testing.T) {
	// A closed UDP port answers with ICMP port unreachable.
	dead := func() string {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}()
	live := udpBackend(t, "agent-1")
	r := startProxy(t, testOptions(), 1, func(p []uint16) Config {
		return Config{Listeners: []Listener{{Port: p[0], Protocol: "udp", Upstreams: []string{dead, live}}}}
	})
	// Until a session has tried the dead upstream, the proxy cannot know:
	// that session's datagrams are lost, as UDP allows.
	deadline := time.Now().Add(5 * time.Second)
	for r.log.count("upstream "+dead+" failed") == 0 {
		if got := ask(t, udpClient(t, r.addr(0)), "q", 100*time.Millisecond); got != "" && got != "agent-1:q" {
			t.Fatalf("answer %q", got)
		}
		if time.Now().After(deadline) {
			t.Fatal("no session tried the dead upstream within 5s")
		}
	}
	// From then on every new client reaches the live one at once.
	for range 4 {
		if got := ask(t, udpClient(t, r.addr(0)), "q", 2*time.Second); got != "agent-1:q" {
			t.Fatalf("new client got %q, want agent-1:q at once", got)
		}
	}
}

func TestUDPSessionExpiresWhenIdle(t *testing.T) {
	// This upstream answers with the address the datagram came from: the
	// proxy's socket for the client's session.
	up, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := up.ReadFrom(buf)
			if err != nil {
				return
			}
			up.WriteTo([]byte(from.String()), from)
		}
	}()
	opts := testOptions()
	opts.udpIdle = 100 * time.Millisecond
	r := startProxy(t, opts, 1, func(p []uint16) Config {
		return Config{Listeners: []Listener{{Port: p[0], Protocol: "udp", Upstreams: []string{up.LocalAddr().String()}}}}
	})
	c := udpClient(t, r.addr(0))
	first := ask(t, c, "x", 5*time.Second)
	if first == "" {
		t.Fatal("no answer")
	}
	if again := ask(t, c, "x", 5*time.Second); again != first {
		t.Fatalf("a busy session changed its socket: %s then %s", first, again)
	}
	// Waiting out the idle time is the behaviour under test.
	time.Sleep(4 * opts.udpIdle)
	if after := ask(t, c, "x", 5*time.Second); after == first || after == "" {
		t.Fatalf("after %v quiet the session still used %s (answer %q); want a new session", 4*opts.udpIdle, first, after)
	}
}
