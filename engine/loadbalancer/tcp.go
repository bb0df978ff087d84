package loadbalancer

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// tcpListener forwards each accepted connection to one upstream.
type tcpListener struct {
	p      *proxy
	key    listenerKey
	ln     *net.TCPListener
	ups    *upstreams
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// lastAllFailed throttles the "no upstream reachable" line while a
	// cluster is starting and every connection fails.
	lastAllFailed atomic.Int64
}

func listenTCP(p *proxy, k listenerKey, ups *upstreams) (*tcpListener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(p.ctx, "tcp", ":"+strconv.Itoa(int(k.port)))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(p.ctx)
	l := &tcpListener{p: p, key: k, ln: ln.(*net.TCPListener), ups: ups, ctx: ctx, cancel: cancel}
	// Closing the socket is what ends Accept.
	context.AfterFunc(ctx, func() { l.ln.Close() })
	l.wg.Add(1)
	go l.accept()
	return l, nil
}

func (l *tcpListener) setUpstreams(u []string) { l.ups.set(u) }

func (l *tcpListener) close() {
	l.cancel()
	l.wg.Wait()
}

func (l *tcpListener) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: back off instead of
			// spinning, the way net/http does.
			l.p.logf("listener %s: accept: %v", l.key, err)
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if limit := l.p.tuned().WorkerConnections; limit > 0 && l.p.conns.Load() >= int64(limit) {
			now := time.Now().UnixNano()
			if last := l.p.lastRefused.Load(); now-last >= int64(time.Second) && l.p.lastRefused.CompareAndSwap(last, now) {
				l.p.logf("listener %s: connection from %s closed: all %d connections of settings.workerConnections are in use", l.key, c.RemoteAddr(), limit)
			}
			c.Close()
			continue
		}
		l.p.conns.Add(1)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.p.conns.Add(-1)
			l.handle(c)
		}()
	}
}

func (l *tcpListener) handle(client *net.TCPConn) {
	defer client.Close()
	up := l.dial(client.RemoteAddr())
	if up == nil {
		return
	}
	defer up.Close()
	// Ending the listener (removed from the config, or Serve stopping) ends
	// its connections: closing both sockets unblocks both copies.
	stop := context.AfterFunc(l.ctx, func() {
		client.Close()
		up.Close()
	})
	defer stop()
	if t := l.p.tuned().DefaultProxyTimeout; t > 0 {
		pipeIdle(client, up, time.Duration(t)*time.Second)
		return
	}
	pipe(client, up)
}

// dial connects to the first upstream that answers, in round-robin order
// with recently failed upstreams last.
func (l *tcpListener) dial(from net.Addr) *net.TCPConn {
	order := l.ups.order()
	d := net.Dialer{Timeout: l.p.opts.dialTimeout}
	var lastErr error
	for _, addr := range order {
		c, news, err := l.p.names.dial(l.ctx, &d, "tcp", addr)
		if news {
			l.p.logf("listener %s: upstream %s does not resolve now: dialling its last known address", l.key, addr)
		}
		if err != nil {
			if l.ctx.Err() != nil {
				return nil
			}
			lastErr = err
			if l.ups.failed(addr) {
				l.p.logf("listener %s: upstream %s failed: %v", l.key, addr, err)
			}
			continue
		}
		if l.ups.ok(addr) {
			l.p.logf("listener %s: upstream %s is answering again", l.key, addr)
		}
		return c.(*net.TCPConn)
	}
	now := time.Now().UnixNano()
	if last := l.lastAllFailed.Load(); now-last >= int64(l.p.opts.failMemory) && l.lastAllFailed.CompareAndSwap(last, now) {
		if lastErr == nil {
			l.p.logf("listener %s: connection from %s dropped: no upstreams configured", l.key, from)
		} else {
			l.p.logf("listener %s: connection from %s dropped: none of %d upstreams answered (last: %v)", l.key, from, len(order), lastErr)
		}
	}
	return nil
}

// pipe copies both ways until both sides have finished sending. A side that
// ends cleanly is half-closed towards the other (clients that shut down
// writing and then read the answer keep working); a failure on either side
// aborts both. Between two TCP sockets io.Copy uses splice(2) on Linux, so the
// data does not pass through user space.
func pipe(a, b *net.TCPConn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyHalf(b, a)
	}()
	copyHalf(a, b)
	<-done
}

func copyHalf(dst, src *net.TCPConn) {
	if _, err := io.Copy(dst, src); err != nil && !errors.Is(err, net.ErrClosed) {
		// A reset on one side must reach the other, not leave it waiting.
		dst.SetLinger(0)
		dst.Close()
		src.Close()
		return
	}
	dst.CloseWrite()
}

// pipeIdle is pipe that ends the connection once no data has gone either way
// for idle (settings.defaultProxyTimeout). It copies through user space, as
// a read deadline needs a read to hang on; pipe keeps splice(2) for the
// default, which has no timeout.
func pipeIdle(a, b *net.TCPConn, idle time.Duration) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyIdle(b, a, idle, &last)
	}()
	copyIdle(a, b, idle, &last)
	<-done
}

func copyIdle(dst, src *net.TCPConn, idle time.Duration, last *atomic.Int64) {
	abort := func() {
		dst.SetLinger(0)
		dst.Close()
		src.Close()
	}
	buf := make([]byte, 32<<10)
	for {
		src.SetReadDeadline(time.Unix(0, last.Load()).Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			last.Store(time.Now().UnixNano())
			dst.SetWriteDeadline(time.Now().Add(idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				abort()
				return
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			dst.CloseWrite()
			return
		case isTimeout(err) && time.Since(time.Unix(0, last.Load())) < idle:
			// The other direction carried data meanwhile.
		default:
			// Idle for the whole timeout, a reset, or closed by the other
			// copy: end both sides.
			abort()
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
