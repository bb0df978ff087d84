package podman

import (
	"maps"
	"slices"
	"testing"
)

func TestMatches(t *testing.T) {
	labels := map[string]string{"app": "k3d", "k3d.cluster.url": "https://k3d-dev-server-0:6443", "k3d.empty": "", "k3d.eq": "a=b,c=d"}
	for _, tc := range []struct {
		selector map[string]string
		want     bool
	}{
		{nil, true},
		{map[string]string{"app": "k3d"}, true},
		{map[string]string{"app": ""}, true},
		{map[string]string{"k3d.empty": ""}, true},
		{map[string]string{"k3d.eq": "a=b,c=d", "k3d.cluster.url": "https://k3d-dev-server-0:6443"}, true},
		{map[string]string{"app": "other"}, false},
		{map[string]string{"app": "k3d", "k3d.absent": ""}, false},
		{map[string]string{"k3d.*": ""}, false}, // the service's filter would glob-match it
	} {
		if got := matches(labels, tc.selector); got != tc.want {
			t.Errorf("matches(%v): %t, want %t", tc.selector, got, tc.want)
		}
	}
	if f := labelFilters(map[string]string{"b": "x", "a": ""}); !slices.Equal(f["label"], []string{"a", "b"}) {
		t.Errorf("labelFilters: %v, want only the keys, sorted", f)
	}
	if f := labelFilters(nil); f != nil {
		t.Errorf("labelFilters(nil): %v, want no filter", f)
	}
}

func TestImageLabelsAreHidden(t *testing.T) {
	image := map[string]string{"org.opencontainers.image.version": "v1.36", "k3d.role": "from-image"}
	given := map[string]string{"app": "k3d", "k3d.role": "server"}
	merged := maps.Clone(image)
	maps.Copy(merged, given) // what Podman stores: the image's labels, overridden by the given ones
	merged[labelImageLabels] = inheritedLabels(image, given)
	got := givenLabels(merged)
	delete(got, labelImageLabels)
	if !maps.Equal(got, given) {
		t.Errorf("labels reported: %v, want only the given %v", got, given)
	}
	if inheritedLabels(nil, given) != "" {
		t.Errorf("an image without labels must leave no marker")
	}
}
