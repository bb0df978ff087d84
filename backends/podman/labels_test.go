package podman

import (
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
