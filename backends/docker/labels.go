package docker

import (
	"maps"

	"github.com/docker/docker/api/types/filters"
)

// labelFilter turns a contract selector into the daemon's label filters, so
// that the daemon does the matching: "key=value" matches the value exactly,
// a bare "key" (an empty value in the selector) matches any value.
func labelFilter(selector map[string]string) filters.Args {
	args := filters.NewArgs()
	for k, v := range selector {
		if v == "" {
			args.Add("label", k)
		} else {
			args.Add("label", k+"="+v)
		}
	}
	return args
}

// copyLabels returns labels as a fresh non-nil map, so that callers never see
// the difference between "no labels" and "nil labels" and never share maps.
func copyLabels(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels))
	maps.Copy(out, labels)
	return out
}
