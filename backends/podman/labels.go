package podman

import (
	"encoding/json"
	"maps"
	"slices"
)

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

// labelImageLabels lists (as a JSON array) the label keys a node inherited
// from its image: Podman merges the image's labels into the container's, and
// the contract returns only the labels given at creation.
const labelImageLabels = labelPrefix + "image-labels"

// inheritedLabels is the value of labelImageLabels for a node given labels
// made from an image with imageLabels ("" when it inherits none).
func inheritedLabels(imageLabels, given map[string]string) string {
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

// givenLabels drops from a node's labels those it inherited from its image.
func givenLabels(labels map[string]string) map[string]string {
	out := copyLabels(labels)
	var inherited []string
	if err := json.Unmarshal([]byte(labels[labelImageLabels]), &inherited); err == nil {
		for _, k := range inherited {
			delete(out, k)
		}
	}
	return out
}
