package containerd

import (
	"maps"
	"slices"
	"strings"
)

// matches reports whether labels satisfy a contract selector: every key
// present, with exactly the given value unless that value is empty.
func matches(labels, selector map[string]string) bool {
	for k, want := range selector {
		got, ok := labels[k]
		if !ok || (want != "" && got != want) {
			return false
		}
	}
	return true
}

// copyLabels returns labels as a fresh non-nil map.
func copyLabels(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels))
	maps.Copy(out, labels)
	return out
}

// containerdLabelPrefix is containerd's own label namespace: the restart
// monitor's labels live there, and they are not the node's.
const containerdLabelPrefix = "containerd.io/"

// nodeLabels are the labels a node was given: its container's, without
// those containerd's restart monitor reads, and with the empty ones that
// containerd cannot keep.
func nodeLabels(rec nodeRecord) map[string]string {
	out := make(map[string]string, len(rec.c.Labels)+len(rec.meta.EmptyLabels))
	for k, v := range rec.c.Labels {
		if !strings.HasPrefix(k, containerdLabelPrefix) {
			out[k] = v
		}
	}
	for _, k := range rec.meta.EmptyLabels {
		out[k] = ""
	}
	return out
}

// splitEmptyLabels takes the labels with empty values out of labels and
// returns their keys.
func splitEmptyLabels(labels map[string]string) []string {
	var keys []string
	for k, v := range labels {
		if v == "" {
			keys = append(keys, k)
			delete(labels, k)
		}
	}
	slices.Sort(keys)
	return keys
}
