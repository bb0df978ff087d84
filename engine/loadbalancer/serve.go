package loadbalancer

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// options are the proxy's timings; tests shorten them.
type options struct {
	// poll is how often the config file is re-read.
	poll time.Duration
	// dialTimeout bounds one upstream attempt, name lookup included.
	dialTimeout time.Duration
	// refresh is how often every upstream name is looked up again, so
	// that each has a last known address for when DNS stops answering.
	refresh time.Duration
	// failMemory is how long a failed upstream is tried only as a last resort.
	failMemory time.Duration
	// udpIdle ends a UDP client's session after this long without a packet
	// either way.
	udpIdle time.Duration
	// dropTo is the uid/gid a proxy started as root switches to once its
	// listeners are bound.
	dropTo int
}

func defaultOptions() options {
	return options{
		poll:        500 * time.Millisecond,
		dialTimeout: 2 * time.Second,
		refresh:     3 * time.Second,
		failMemory:  5 * time.Second,
		udpIdle:     60 * time.Second,
		dropTo:      65534,
	}
}

// Serve runs the proxy described by the file at configPath until ctx is done,
// then closes every listener and connection and returns nil. The file is
// re-read on SIGHUP and whenever its content changes: listeners whose port
// stays keep their socket and connections, new upstream lists apply to new
// connections, and an invalid file is logged and ignored. A missing or invalid
// file at start is an error. Serve logs to stderr, one line per event.
func Serve(ctx context.Context, configPath string) error {
	logger := log.New(os.Stderr, "k3d-lb: ", log.LstdFlags|log.Lmsgprefix)
	return serve(ctx, configPath, defaultOptions(), logger.Printf)
}

func serve(ctx context.Context, path string, opts options, logf func(string, ...any)) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read load balancer config: %w", err)
	}
	cfg, err := Parse(raw)
	if err != nil {
		return fmt.Errorf("load balancer config %s: %w", path, err)
	}

	// Registered before any socket exists so that a SIGHUP sent as soon as a
	// port answers can never kill the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	p := &proxy{
		ctx:       ctx,
		opts:      opts,
		logf:      logf,
		health:    newHealth(opts.failMemory),
		names:     newResolver(),
		listeners: map[listenerKey]listener{},
	}
	defer p.shutdown()
	logf("loaded %s: %s", path, p.apply(cfg))
	if err := dropPrivileges(opts.dropTo, logf); err != nil {
		return err
	}

	w := watcher{path: path, last: raw}
	tick := time.NewTicker(opts.poll)
	defer tick.Stop()
	refresh := time.NewTicker(opts.refresh)
	defer refresh.Stop()
	refreshing := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-refresh.C:
			// One refresh at a time; a slow DNS must not pile them up.
			select {
			case refreshing <- struct{}{}:
				hosts := p.hosts()
				go func() {
					defer func() { <-refreshing }()
					p.names.refresh(ctx, hosts, opts.dialTimeout)
				}()
			default:
			}
		case <-hup:
			if cfg, ok := w.check(true, logf); ok {
				logf("reloaded %s on SIGHUP: %s", path, p.apply(cfg))
			}
		case <-tick.C:
			if cfg, ok := w.check(false, logf); ok {
				logf("reloaded %s: %s", path, p.apply(cfg))
			}
		}
	}
}

// watcher notices new content in the config file. It compares content rather
// than modification times: a runtime's copy into the container may keep the
// mtime of the source, and it writes the file in place, so a read can see it
// missing or half written; such states are logged once and retried.
type watcher struct {
	path string
	// last is the content last seen, valid or not.
	last []byte
	// lastErr is the read error last logged.
	lastErr string
}

func (w *watcher) check(force bool, logf func(string, ...any)) (Config, bool) {
	raw, err := os.ReadFile(w.path)
	if err != nil {
		if msg := err.Error(); force || msg != w.lastErr {
			logf("keeping the current config: %v", err)
			w.lastErr = msg
		}
		return Config{}, false
	}
	w.lastErr = ""
	if !force && bytes.Equal(raw, w.last) {
		return Config{}, false
	}
	w.last = raw
	cfg, err := Parse(raw)
	if err != nil {
		logf("keeping the current config: %s: %v", w.path, err)
		return Config{}, false
	}
	return cfg, true
}

// listener is one open port, TCP or UDP.
type listener interface {
	// setUpstreams applies to connections and sessions made from now on.
	setUpstreams([]string)
	// close stops the port and ends its connections and sessions, and returns
	// once they are gone.
	close()
}

// proxy holds the open listeners and applies configurations to them.
type proxy struct {
	ctx    context.Context
	opts   options
	logf   func(string, ...any)
	health *health
	names  *resolver

	mu        sync.Mutex
	listeners map[listenerKey]listener
	current   map[listenerKey][]string

	// settings are the current config's; connections read them when they
	// start.
	settings atomic.Pointer[Settings]
	// conns counts the TCP connections carried now, for
	// Settings.WorkerConnections.
	conns atomic.Int64
	// lastRefused throttles the "connection refused: limit" line.
	lastRefused atomic.Int64
}

// current settings; the zero Settings before the first apply.
func (p *proxy) tuned() Settings {
	if s := p.settings.Load(); s != nil {
		return *s
	}
	return Settings{}
}

// apply makes the open listeners match cfg and sums up the result. A port
// that cannot be opened is logged and left out; the next reload (or SIGHUP)
// tries it again.
func (p *proxy) apply(cfg Config) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	settings := cfg.Settings
	if prev := p.settings.Load(); prev != nil && *prev != settings {
		p.logf("settings now %+v", settings)
	}
	p.settings.Store(&settings)
	want := map[listenerKey][]string{}
	for _, l := range cfg.Listeners {
		want[l.key()] = l.Upstreams
	}
	for k, l := range p.listeners {
		if _, ok := want[k]; !ok {
			l.close()
			delete(p.listeners, k)
			p.logf("listener %s closed", k)
		}
	}
	failed := 0
	for _, c := range cfg.Listeners {
		k, ups := c.key(), c.Upstreams
		if l, ok := p.listeners[k]; ok {
			if !slices.Equal(p.current[k], ups) {
				l.setUpstreams(ups)
				p.logf("listener %s upstreams now %v", k, ups)
			}
			continue
		}
		l, err := p.open(k, ups)
		if err != nil {
			p.logf("listener %s not opened: %v", k, err)
			failed++
			continue
		}
		p.listeners[k] = l
		p.logf("listener %s open -> %v", k, ups)
	}
	p.current = want
	hosts := map[string]bool{}
	for _, ups := range want {
		for _, u := range ups {
			if h, _, err := net.SplitHostPort(u); err == nil {
				hosts[h] = true
			}
		}
	}
	p.names.forget(hosts)
	for h, ip := range cfg.Hosts {
		if hosts[h] {
			p.names.hint(h, ip)
		}
	}
	if failed > 0 {
		return fmt.Sprintf("%d listeners, %d of them not opened", len(want), failed)
	}
	return fmt.Sprintf("%d listeners open", len(want))
}

// hosts are the upstream hosts of every listener.
func (p *proxy) hosts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, ups := range p.current {
		for _, u := range ups {
			if h, _, err := net.SplitHostPort(u); err == nil && !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}

func (p *proxy) open(k listenerKey, ups []string) (listener, error) {
	u := newUpstreams(k.protocol, ups, p.health)
	var (
		l   listener
		err error
	)
	if k.protocol == "udp" {
		l, err = listenUDP(p, k, u)
	} else {
		l, err = listenTCP(p, k, u)
	}
	if err != nil {
		return nil, bindError(k, err)
	}
	return l, nil
}

func (p *proxy) shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, l := range p.listeners {
		l.close()
		delete(p.listeners, k)
	}
}
