// Package lazy holds a value computed once per process, for backends that
// cache what their runtime says (its info, what privileged nodes get).
package lazy

import (
	"context"
	"sync"
)

// Value computes a value once per process, like sync.Once, but a caller whose
// context ends stops waiting, and a failed computation is retried by the next
// caller instead of being cached.
type Value[T any] struct {
	mu      sync.Mutex
	done    bool
	val     T
	running chan struct{} // closed when the computation in flight ends
}

// Get returns the value, computing it with compute if no earlier call did.
func (l *Value[T]) Get(ctx context.Context, compute func(context.Context) (T, error)) (T, error) {
	for {
		l.mu.Lock()
		if l.done {
			v := l.val
			l.mu.Unlock()
			return v, nil
		}
		if wait := l.running; wait != nil {
			l.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				var zero T
				return zero, ctx.Err()
			}
		}
		wait := make(chan struct{})
		l.running = wait
		l.mu.Unlock()

		v, err := compute(ctx)

		l.mu.Lock()
		l.running = nil
		if err == nil {
			l.done, l.val = true, v
		}
		l.mu.Unlock()
		close(wait)
		return v, err
	}
}

// Peek returns the value if it has been computed.
func (l *Value[T]) Peek() (T, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.val, l.done
}
