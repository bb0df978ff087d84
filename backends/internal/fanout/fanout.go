// Package fanout runs one runtime call per listed item, a few at a time, for
// backends whose list answers lack what the contract reports.
package fanout

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// Limit is how many calls run at once: enough to hide each call's latency,
// few enough not to crowd the runtime's API on a small machine.
const Limit = 8

// Map calls fn for every item, at most Limit at once, and returns the
// results in the items' order. An item for which fn returns ok false (gone
// since it was listed) is left out. The first error cancels the calls still
// waiting and is returned.
func Map[T, R any](ctx context.Context, items []T, fn func(ctx context.Context, item T) (r R, ok bool, err error)) ([]R, error) {
	results := make([]R, len(items))
	found := make([]bool, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(Limit)
	for i, item := range items {
		if gctx.Err() != nil {
			break // a call failed: make no more
		}
		g.Go(func() error {
			if gctx.Err() != nil {
				return nil // a call failed while this one waited for its turn
			}
			r, ok, err := fn(gctx, item)
			if err != nil {
				return err
			}
			results[i], found[i] = r, ok
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err // calls were skipped, not answered
	}
	out := results[:0]
	for i, r := range results {
		if found[i] {
			out = append(out, r)
		}
	}
	return out, nil
}
