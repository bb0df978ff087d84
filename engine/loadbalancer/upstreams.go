package loadbalancer

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// upstreams is one listener's current upstream list with its round-robin
// position. A reload swaps the list; connections already made keep theirs.
type upstreams struct {
	list   atomic.Pointer[[]string]
	next   atomic.Uint64
	health *health
	// proto prefixes health keys: a TCP failure says nothing about UDP.
	proto string
}

func newUpstreams(proto string, list []string, h *health) *upstreams {
	u := &upstreams{health: h, proto: proto}
	u.set(list)
	return u
}

func (u *upstreams) set(list []string) {
	l := slices.Clone(list)
	u.list.Store(&l)
}

func (u *upstreams) get() []string { return *u.list.Load() }

// order gives the upstreams to try for one new connection: starting at the
// next round-robin position, those not seen failing recently first, then the
// recently failed ones as a last resort (so that a cluster whose servers all
// restarted at once is retried at once instead of after the failure memory).
func (u *upstreams) order() []string {
	list := u.get()
	if len(list) == 0 {
		return nil
	}
	start := int(u.next.Add(1)-1) % len(list)
	good := make([]string, 0, len(list))
	var bad []string
	for i := range list {
		a := list[(start+i)%len(list)]
		if u.health.recentlyFailed(u.proto + "/" + a) {
			bad = append(bad, a)
		} else {
			good = append(good, a)
		}
	}
	return append(good, bad...)
}

// failed records a failure; it reports whether this is news worth a log line
// (the upstream was not already known to be failing).
func (u *upstreams) failed(addr string) bool { return u.health.fail(u.proto + "/" + addr) }

// ok records a success; it reports whether the upstream had been failing.
func (u *upstreams) ok(addr string) bool { return u.health.ok(u.proto + "/" + addr) }

// health remembers which upstreams failed lately, shared by all listeners so
// that a dead node is skipped by every port that forwards to it.
type health struct {
	memory time.Duration
	now    func() time.Time

	mu     sync.Mutex
	failAt map[string]time.Time
}

func newHealth(memory time.Duration) *health {
	return &health{memory: memory, now: time.Now, failAt: map[string]time.Time{}}
}

func (h *health) recentlyFailed(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.failAt[key]
	return ok && h.now().Sub(t) < h.memory
}

func (h *health) fail(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, known := h.failAt[key]
	h.failAt[key] = h.now()
	return !known
}

func (h *health) ok(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, known := h.failAt[key]
	delete(h.failAt, key)
	return known
}
