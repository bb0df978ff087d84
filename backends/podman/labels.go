package podman

import (
	"maps"
	"slices"
)

// labelGPUs records a node's GPU request, which the service's inspect
// does not report; InspectNode strips it again.
const labelGPUs = "k3d.runtime.podman.gpus"

// labelFilters turns a contract selector into the service's label filters.
// Only the keys go to the service ("key" matches any value), and matches
// checks the values here: values k3d stores (URLs, "a=b,c=d", spaces) then
// never depend on how a service version parses a filter.
func labelFilters(selector map[string]string) map[string][]string {
	if len(selector) == 0 {
		return nil
	}
	keys := slices.Sorted(maps.Keys(selector))
	return map[string][]string{"label": keys}
}

// matches applies a selector the contract's way: every key present, with
// exactly the given value unless that is empty. (The service's filter also
// treats a key as a glob pattern, so it may let through more.)
func matches(labels, selector map[string]string) bool {
	for k, v := range selector {
		got, ok := labels[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

// copyLabels returns labels as a fresh non-nil map, so that callers never
// see the difference between "no labels" and "nil labels" and never share maps.
func copyLabels(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels))
	maps.Copy(out, labels)
	return out
}
