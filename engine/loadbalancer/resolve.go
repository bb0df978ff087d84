package loadbalancer

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// resolver dials upstreams by name and remembers the addresses each name
// last resolved to. A node's address outlives short DNS outages: Podman's
// aardvark-dns drops queries while it reloads, which it does every time a
// container joins or leaves any network, so under a burst of changes a
// healthy node would otherwise look dead for as long as the burst lasts.
type resolver struct {
	lookup func(ctx context.Context, host string) ([]string, error)

	mu   sync.Mutex
	last map[string][]string
	// stale are the hosts being dialled at remembered addresses.
	stale map[string]bool
}

func newResolver() *resolver {
	return &resolver{lookup: net.DefaultResolver.LookupHost, last: map[string][]string{}, stale: map[string]bool{}}
}

// dial connects to addr (host:port); a host that cannot be resolved now is
// dialled at the addresses it had last time. news reports the first time a
// host is dialled that way since it last resolved, for one log line.
func (r *resolver) dial(ctx context.Context, d *net.Dialer, network, addr string) (c net.Conn, news bool, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) != nil {
		c, err := d.DialContext(ctx, network, addr)
		return c, false, err
	}
	lctx, cancel := context.WithTimeout(ctx, d.Timeout)
	ips, lerr := r.lookup(lctx, host)
	cancel()
	stale := false
	r.mu.Lock()
	if lerr == nil && len(ips) > 0 {
		r.last[host] = ips
		delete(r.stale, host)
	} else if prev := r.last[host]; len(prev) > 0 {
		ips, stale = prev, true
		news = !r.stale[host]
		r.stale[host] = true
	}
	r.mu.Unlock()
	if len(ips) == 0 {
		if lerr == nil {
			lerr = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
		return nil, false, lerr
	}
	var errs []error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip, port))
		if err == nil {
			return c, news, nil
		}
		errs = append(errs, err)
	}
	if stale {
		errs = append(errs, lerr)
	}
	return nil, news, errors.Join(errs...)
}

// refresh looks every host up again, keeping the addresses of those that
// resolve: an upstream that was never dialled still has an address to fall
// back on when DNS stops answering.
func (r *resolver) refresh(ctx context.Context, hosts []string, timeout time.Duration) {
	for _, h := range hosts {
		if net.ParseIP(h) != nil {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, timeout)
		ips, err := r.lookup(lctx, h)
		cancel()
		if err == nil && len(ips) > 0 {
			r.mu.Lock()
			r.last[h] = ips
			delete(r.stale, h)
			r.mu.Unlock()
		}
	}
}

// hint records an address the engine saw host at, as if it had resolved
// there: it is newer than any earlier lookup.
func (r *resolver) hint(host, ip string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last[host] = []string{ip}
}

// forget drops what is remembered of hosts no listener uses any more.
func (r *resolver) forget(keep map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for h := range r.last {
		if !keep[h] {
			delete(r.last, h)
			delete(r.stale, h)
		}
	}
}
