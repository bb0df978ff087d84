package loadbalancer

import (
	"io"
	"net"
	"testing"
)

// Run with: go test -run '^$' -bench . ./engine/loadbalancer/
// Each benchmark has a "direct" and a "proxy" case side by side: the
// difference is what the load balancer costs.

// sink reads everything a connection sends, then answers one byte.
func sink(tb testing.TB) string {
	tb.Helper()
	return server(tb, func(c net.Conn) {
		io.Copy(io.Discard, c)
		c.Write([]byte{1})
	})
}

// pong answers each byte with itself.
func pong(tb testing.TB) string {
	tb.Helper()
	return server(tb, func(c net.Conn) { io.Copy(c, c) })
}

func server(tb testing.TB, handle func(net.Conn)) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return l.Addr().String()
}

func viaProxy(b *testing.B, upstream string) string {
	return viaProxyWith(b, upstream, Settings{})
}

// viaProxyWith is viaProxy with load balancer settings
// (--lb-config-override).
func viaProxyWith(b *testing.B, upstream string, s Settings) string {
	o := testOptions()
	r := startProxy(b, o, 1, func(p []uint16) Config {
		return Config{Listeners: []Listener{{Port: p[0], Protocol: "tcp", Upstreams: []string{upstream}}}, Settings: s}
	})
	return r.addr(0)
}

func BenchmarkTCPThroughput(b *testing.B) {
	up := sink(b)
	for _, tc := range []struct {
		name string
		addr func(*testing.B) string
	}{
		{"direct", func(*testing.B) string { return up }},
		{"proxy", func(b *testing.B) string { return viaProxy(b, up) }},
		// settings.defaultProxyTimeout copies through user space.
		{"proxy-idle-timeout", func(b *testing.B) string { return viaProxyWith(b, up, Settings{DefaultProxyTimeout: 600}) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			addr := tc.addr(b)
			chunk := make([]byte, 256<<10)
			c, err := dialTCP(addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			c.CloseWrite()
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				b.Fatalf("the upstream did not get everything: %v", err)
			}
		})
	}
}

func BenchmarkTCPConnect(b *testing.B) {
	up := pong(b)
	for _, tc := range []struct {
		name string
		addr func(*testing.B) string
	}{
		{"direct", func(*testing.B) string { return up }},
		{"proxy", func(b *testing.B) string { return viaProxy(b, up) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			addr := tc.addr(b)
			buf := []byte{7}
			b.ResetTimer()
			// Connect, one round trip, close: what a kubectl call without
			// keep-alive costs in connection setup.
			for range b.N {
				c, err := dialTCP(addr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
		})
	}
}
