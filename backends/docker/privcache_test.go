package docker

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A second backend process on the same host and daemon takes the probe's
// answer from the cache instead of starting probe containers again, and gets
// the same answer.
func TestPrivilegesAreRememberedAcrossProcesses(t *testing.T) {
	needDaemon(t)
	dir := t.TempDir()
	ctx := context.Background()
	first, err := New(Options{Report: &syncBuffer{}, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	img := nodeSpec(t, "cache").Image
	p1, err := first.privilegesFor(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	second, err := New(Options{Report: &syncBuffer{}, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	p2, err := second.privilegesFor(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if p1.full != p2.full || !slices.Equal(p1.caps, p2.caps) || !slices.Equal(p1.missing, p2.missing) || p1.kmsg != p2.kmsg {
		t.Errorf("remembered %+v, decided %+v", p2, p1)
	}
	if !p1.full && !strings.HasSuffix(p2.how, "remembered") {
		t.Errorf("second process decided again (%s) instead of using the cache", p2.how)
	}
}

// A cache entry that cannot be read is ignored, not trusted.
func TestABrokenPrivilegesCacheIsIgnored(t *testing.T) {
	r := &Runtime{cacheDir: t.TempDir()}
	r.storePrivileges("k", privileges{caps: []string{"CAP_CHOWN"}, how: "probe"})
	if p, ok := r.loadPrivileges("k"); !ok || p.caps[0] != "CAP_CHOWN" {
		t.Fatalf("round trip: %+v %v", p, ok)
	}
	for _, junk := range []string{"", "{", `{"full":false}`} {
		if err := writeFile(filepath.Join(r.cacheDir, privilegesCache+"-k.json"), junk); err != nil {
			t.Fatal(err)
		}
		if _, ok := r.loadPrivileges("k"); ok {
			t.Errorf("cache %q was trusted", junk)
		}
	}
	if _, ok := (&Runtime{}).loadPrivileges(""); ok {
		t.Error("no cache dir, yet an answer")
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
