// Package imagelabels keeps image labels out of node labels, for runtimes
// (Docker, Podman) that merge an image's labels into its containers' while
// the contract returns only the labels given at creation.
package imagelabels

import (
	"encoding/json"
	"maps"
	"slices"
)

// Key is the label that lists (as a JSON array) the keys a node inherited
// from its image.
const Key = "k3d.runtime.image-labels"

// Record is the value of Key for a node given labels, made from an image with
// imageLabels ("" when it inherits none).
func Record(imageLabels, given map[string]string) string {
	var keys []string
	for k := range imageLabels {
		if _, ok := given[k]; !ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	slices.Sort(keys)
	b, _ := json.Marshal(keys)
	return string(b)
}

// Strip returns a copy of a node's labels without those Record listed.
func Strip(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels))
	maps.Copy(out, labels)
	var inherited []string
	if err := json.Unmarshal([]byte(labels[Key]), &inherited); err == nil {
		for _, k := range inherited {
			delete(out, k)
		}
	}
	return out
}
