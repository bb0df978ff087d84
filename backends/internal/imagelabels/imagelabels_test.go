package imagelabels

import (
	"maps"
	"testing"
)

func TestInheritedLabelsAreStripped(t *testing.T) {
	image := map[string]string{"org.opencontainers.image.title": "k3s", "app": "image-value"}
	given := map[string]string{"app": "k3d", "k3d.cluster": "dev"}
	rec := Record(image, given)
	if rec != `["org.opencontainers.image.title"]` {
		t.Fatalf("Record = %s: only keys the node did not get explicitly are inherited", rec)
	}
	// What the runtime reports: image labels merged, given ones win, plus ours.
	merged := map[string]string{"org.opencontainers.image.title": "k3s", "app": "k3d", "k3d.cluster": "dev", Key: rec}
	got := Strip(merged)
	delete(got, Key)
	if !maps.Equal(got, given) {
		t.Errorf("Strip = %v, want %v", got, given)
	}
	if Record(nil, given) != "" {
		t.Error("an image without labels gives a record")
	}
	if got := Strip(given); !maps.Equal(got, given) {
		t.Errorf("labels without a record changed: %v", got)
	}
}
