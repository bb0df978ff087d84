package docker

import (
	"encoding/json"
	"maps"
	"slices"

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

// labelImageLabels lists (as a JSON array) the label keys a node inherited
// from its image: the daemon merges the image's labels into the node's, and
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
