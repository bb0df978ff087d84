package nodefilter

import (
	"reflect"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"server:0", "server:*", "agent:1,2", "agent:0-2", "agent:*", "all", "loadbalancer", "servers:0",
	"agent:0:direct", "server:0;agent:1", "server:0;@agent:1", "workers", "workers[0]", "workers[0,2-3]",
	"masters", "masters[0]", "k3d-test-worker-0", "k3d-test-master-0@workers[1-5]", "agent[1:3]",
	"agent:2-", "agent:-2", "lb", "", "@", ";", "[", "]", "[]", "a[", "server:0:", "::", "agent:3-1",
	"agent:99999999999999999999", "k3d-", "workers[0]:proxy", "all:*",
}

// FuzzParse: Parse never panics, and what it accepts Format writes back unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		filters, err := Parse(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("Parse(%q) error spans lines: %q", s, err)
			}
			return
		}
		if len(filters) == 0 {
			t.Fatalf("Parse(%q) accepted an empty chain", s)
		}
		text := Format(filters)
		back, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse(Format = %q): %v", s, text, err)
		}
		if !reflect.DeepEqual(back, filters) {
			t.Fatalf("round trip of %q via %q: got %+v, want %+v", s, text, back, filters)
		}
		// Match must not panic either, whatever the filter.
		_, _ = Match(filters, cluster(2, 3, true))
	})
}

// FuzzSplit: Split never panics, a value without '@' or '\' comes back unchanged, and
// Join writes back what Split read.
func FuzzSplit(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add("8080:80@" + s)
		f.Add(`a\@b@` + s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		value, filters, err := Split(s)
		if err != nil {
			return
		}
		if !strings.ContainsAny(s, `@\`) && (value != s || filters != nil) {
			t.Fatalf("Split(%q) = %q, %v; want the spec back and no filters", s, value, filters)
		}
		if strings.Contains(s, "@") && !strings.Contains(s, `\`) && filters == nil {
			t.Fatalf("Split(%q) dropped the filters", s)
		}
		joined := Join(value, filters)
		v2, f2, err := Split(joined)
		if err != nil || v2 != value || !reflect.DeepEqual(f2, filters) {
			t.Fatalf("Split(%q) = %q, %v; Split(Join = %q) = %q, %v, %v", s, value, filters, joined, v2, f2, err)
		}
		plain := Join(value, nil)
		if v3, f3, err := Split(plain); err != nil || v3 != value || f3 != nil {
			t.Fatalf("Split(Join(%q, nil) = %q) = %q, %v, %v", value, plain, v3, f3, err)
		}
	})
}
