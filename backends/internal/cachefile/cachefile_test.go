package cachefile

import "testing"

func TestStoreThenLoadByKey(t *testing.T) {
	dir := t.TempDir()
	type entry struct{ A string }
	Store(dir, "x", Key("daemon-1", "v1"), entry{A: "kept"})
	var got entry
	if !Load(dir, "x", Key("daemon-1", "v1"), &got) || got.A != "kept" {
		t.Fatalf("load with the same key: %+v", got)
	}
	if Load(dir, "x", Key("daemon-1", "v2"), &got) {
		t.Error("an entry was found under another key")
	}
	Store("", "x", "k", entry{})
	if Load("", "x", "k", &got) || Load(dir, "x", "", &got) {
		t.Error("an empty dir or key was cached")
	}
}
