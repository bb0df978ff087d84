package loadbalancer

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// udpListener keeps one session per client address: the client's datagrams
// go to one upstream through a socket of the session's own, and the
// upstream's answers go back to the client from the listening port.
type udpListener struct {
	p      *proxy
	key    listenerKey
	conn   *net.UDPConn
	ups    *upstreams
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[netip.AddrPort]*udpSession
}

// udpQueue is how many datagrams a session holds while it looks for an
// upstream; more are dropped, as a congested network would.
const udpQueue = 64

type udpSession struct {
	client netip.AddrPort
	in     chan []byte
	// active is the UnixNano time of the last datagram either way.
	active atomic.Int64
}

func listenUDP(p *proxy, k listenerKey, ups *upstreams) (*udpListener, error) {
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(p.ctx, "udp", ":"+strconv.Itoa(int(k.port)))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(p.ctx)
	l := &udpListener{p: p, key: k, conn: pc.(*net.UDPConn), ups: ups, ctx: ctx, cancel: cancel,
		sessions: map[netip.AddrPort]*udpSession{}}
	context.AfterFunc(ctx, func() { l.conn.Close() })
	l.wg.Add(1)
	go l.read()
	return l, nil
}

func (l *udpListener) setUpstreams(u []string) { l.ups.set(u) }

func (l *udpListener) close() {
	l.cancel()
	l.wg.Wait()
}

func (l *udpListener) read() {
	defer l.wg.Done()
	buf := make([]byte, 64*1024)
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			l.p.logf("listener %s: read: %v", l.key, err)
			continue
		}
		pkt := append([]byte(nil), buf[:n]...)
		s := l.session(from)
		s.active.Store(time.Now().UnixNano())
		select {
		case s.in <- pkt:
		default:
		}
	}
}

// session returns the client's session, starting one if needed.
func (l *udpListener) session(from netip.AddrPort) *udpSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.sessions[from]; ok {
		return s
	}
	s := &udpSession{client: from, in: make(chan []byte, udpQueue)}
	s.active.Store(time.Now().UnixNano())
	l.sessions[from] = s
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.run(s)
	}()
	return s
}

func (l *udpListener) end(s *udpSession) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sessions[s.client] == s {
		delete(l.sessions, s.client)
	}
}

// run carries one client's datagrams until the session idles out, its
// upstream refuses them, or the listener closes. Datagrams queued while the
// session ends are lost; the client's next one starts a new session.
func (l *udpListener) run(s *udpSession) {
	defer l.end(s)
	up, addr := l.dial(s.client)
	if up == nil {
		return
	}
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	// Closing the socket is what ends the answer loop's Read.
	context.AfterFunc(ctx, func() { up.Close() })

	answered := make(chan struct{})
	go func() {
		defer close(answered)
		l.answer(ctx, cancel, s, up, addr)
	}()
	defer func() {
		cancel()
		<-answered
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case pkt := <-s.in:
			if _, err := up.Write(pkt); err != nil {
				if ctx.Err() == nil {
					l.upstreamFailed(addr, err)
				}
				return
			}
		}
	}
}

// answer copies the upstream's datagrams back to the client and ends the
// session when neither side has sent anything for udpIdle.
func (l *udpListener) answer(ctx context.Context, cancel context.CancelFunc, s *udpSession, up *net.UDPConn, addr string) {
	defer cancel()
	idle := l.p.opts.udpIdle
	if t := l.p.tuned().DefaultProxyTimeout; t > 0 {
		idle = time.Duration(t) * time.Second
	}
	buf := make([]byte, 64*1024)
	answered := false
	for {
		last := time.Unix(0, s.active.Load())
		if time.Since(last) >= idle {
			return
		}
		up.SetReadDeadline(last.Add(idle))
		n, err := up.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue // the client may have sent since: check again
			}
			if ctx.Err() == nil {
				l.upstreamFailed(addr, err)
			}
			return
		}
		if !answered {
			answered = true
			if l.ups.ok(addr) {
				l.p.logf("listener %s: upstream %s is answering again", l.key, addr)
			}
		}
		s.active.Store(time.Now().UnixNano())
		if _, err := l.conn.WriteToUDPAddrPort(buf[:n], s.client); err != nil && ctx.Err() == nil {
			l.p.logf("listener %s: answer to %s: %v", l.key, s.client, err)
		}
	}
}

// upstreamFailed records an upstream that refused datagrams (an ICMP port
// unreachable comes back as ECONNREFUSED on the connected socket) so that
// the client's next session tries another one first.
func (l *udpListener) upstreamFailed(addr string, err error) {
	if l.ups.failed(addr) {
		l.p.logf("listener %s: upstream %s failed: %v", l.key, addr, err)
	}
}

// dial picks the session's upstream: for UDP only a failed name lookup, or a
// refusal remembered from an earlier session, can be seen before sending.
func (l *udpListener) dial(client netip.AddrPort) (*net.UDPConn, string) {
	d := net.Dialer{Timeout: l.p.opts.dialTimeout}
	order := l.ups.order()
	var lastErr error
	for _, addr := range order {
		c, _, err := l.p.names.dial(l.ctx, &d, "udp", addr)
		if err != nil {
			if l.ctx.Err() != nil {
				return nil, ""
			}
			lastErr = err
			if l.ups.failed(addr) {
				l.p.logf("listener %s: upstream %s failed: %v", l.key, addr, err)
			}
			continue
		}
		// Recovery is recorded on the first answer, not here: a name that
		// resolves may still refuse datagrams.
		return c.(*net.UDPConn), addr
	}
	if lastErr == nil {
		l.p.logf("listener %s: datagrams from %s dropped: no upstreams configured", l.key, client)
	} else {
		l.p.logf("listener %s: datagrams from %s dropped: none of %d upstreams resolved (last: %v)", l.key, client, len(order), lastErr)
	}
	return nil, ""
}
