package conformance

import "testing"

// testInfo: the runtime describes itself, and answers the same again (Info is
// cached for the life of the backend).
func testInfo(t *testing.T, f *fixture) {
	info, err := f.rt.Info(f.ctx)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if info.Name != f.s.backend {
		t.Errorf("info name %q, want %q (the name after k3d-runtime-)", info.Name, f.s.backend)
	}
	if info.Version == "" {
		t.Errorf("info has no runtime version: %+v", info)
	}
	if info.Endpoint == "" {
		t.Errorf("info has no endpoint: %+v", info)
	}
	if info.OS == "" || info.Arch == "" {
		t.Errorf("info has no OS or architecture: %+v", info)
	}
	switch info.CgroupVersion {
	case 0, 1, 2:
	default:
		t.Errorf("info cgroup version %d, want 0, 1 or 2", info.CgroupVersion)
	}
	again, err := f.rt.Info(f.ctx)
	if err != nil {
		t.Fatalf("info again: %v", err)
	}
	if again.Name != info.Name || again.Version != info.Version || again.Endpoint != info.Endpoint {
		t.Errorf("info changed between calls: %+v then %+v", info, again)
	}
}
