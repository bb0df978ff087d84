package nodefilter

import (
	"reflect"
	"strings"
	"testing"
)

func one(i int) Range { return Range{First: i, Last: i} }

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want []Filter
	}{
		// k3d v5 (docs: design/concepts and the flag help).
		{"server:0", []Filter{{Group: GroupServer, Ranges: []Range{one(0)}}}},
		{"@server:0", []Filter{{Group: GroupServer, Ranges: []Range{one(0)}}}},
		{"server:*", []Filter{{Group: GroupServer}}},
		{"servers:0", []Filter{{Group: GroupServer, Ranges: []Range{one(0)}}}},
		{"servers:*", []Filter{{Group: GroupServer}}},
		{"agent:1,2", []Filter{{Group: GroupAgent, Ranges: []Range{one(1), one(2)}}}},
		{"agent:1,3,5", []Filter{{Group: GroupAgent, Ranges: []Range{one(1), one(3), one(5)}}}},
		{"agent:0-2", []Filter{{Group: GroupAgent, Ranges: []Range{{0, 2}}}}},
		{"agent:2-4", []Filter{{Group: GroupAgent, Ranges: []Range{{2, 4}}}}},
		{"agent:2-", []Filter{{Group: GroupAgent, Ranges: []Range{{2, OpenEnd}}}}},
		{"agent:-2", []Filter{{Group: GroupAgent, Ranges: []Range{{0, 2}}}}},
		{"agent:*", []Filter{{Group: GroupAgent}}},
		{"agents:*", []Filter{{Group: GroupAgent}}},
		{"all", []Filter{{Group: GroupAll}}},
		{"all:*", []Filter{{Group: GroupAll}}},
		{"loadbalancer", []Filter{{Group: GroupLoadBalancer}}},
		{"lb", []Filter{{Group: GroupLoadBalancer}}},
		{"agent:0:direct", []Filter{{Group: GroupAgent, Ranges: []Range{one(0)}, Suffix: SuffixDirect}}},
		{"server:0:proxy", []Filter{{Group: GroupServer, Ranges: []Range{one(0)}, Suffix: SuffixProxy}}},
		{"servers:*:proxy", []Filter{{Group: GroupServer, Suffix: SuffixProxy}}},
		{"server:direct", []Filter{{Group: GroupServer, Suffix: SuffixDirect}}},
		{"server:0;agent:1", []Filter{{Group: GroupServer, Ranges: []Range{one(0)}}, {Group: GroupAgent, Ranges: []Range{one(1)}}}},
		{"server:0;@agent:1", []Filter{{Group: GroupServer, Ranges: []Range{one(0)}}, {Group: GroupAgent, Ranges: []Range{one(1)}}}},
		{"server:0; agent:1", []Filter{{Group: GroupServer, Ranges: []Range{one(0)}}, {Group: GroupAgent, Ranges: []Range{one(1)}}}},
		// The seed's form (thoughts.md) and k3d v4's brackets.
		{"workers", []Filter{{Group: GroupAgent}}},
		{"workers[0]", []Filter{{Group: GroupAgent, Ranges: []Range{one(0)}}}},
		{"workers[0,2-3]", []Filter{{Group: GroupAgent, Ranges: []Range{one(0), {2, 3}}}}},
		{"workers[1-5]", []Filter{{Group: GroupAgent, Ranges: []Range{{1, 5}}}}},
		{"masters", []Filter{{Group: GroupServer}}},
		{"masters[0]", []Filter{{Group: GroupServer, Ranges: []Range{one(0)}}}},
		{"master", []Filter{{Group: GroupServer}}},
		{"worker[0]", []Filter{{Group: GroupAgent, Ranges: []Range{one(0)}}}},
		{"agent[0]", []Filter{{Group: GroupAgent, Ranges: []Range{one(0)}}}},
		{"agent[*]", []Filter{{Group: GroupAgent}}},
		{"agent[1:3]", []Filter{{Group: GroupAgent, Ranges: []Range{{1, 3}}}}},
		{"agent[:3]", []Filter{{Group: GroupAgent, Ranges: []Range{{0, 3}}}}},
		{"workers[0]:direct", []Filter{{Group: GroupAgent, Ranges: []Range{one(0)}, Suffix: SuffixDirect}}},
		{"k3d-test-worker-0", []Filter{{Group: GroupNode, Name: "k3d-test-worker-0"}}},
		{"k3d-test-worker-0:direct", []Filter{{Group: GroupNode, Name: "k3d-test-worker-0", Suffix: SuffixDirect}}},
		{"k3d-test-master-0@workers[1-5]", []Filter{{Group: GroupNode, Name: "k3d-test-master-0"}, {Group: GroupAgent, Ranges: []Range{{1, 5}}}}},
		{"@k3d-test-master-0@workers[1-5]", []Filter{{Group: GroupNode, Name: "k3d-test-master-0"}, {Group: GroupAgent, Ranges: []Range{{1, 5}}}}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		back, err := Parse(Format(got))
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("Parse(Format(%q) = %q) = %+v, %v; want %+v", tt.in, Format(got), back, err, got)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `empty node filter: write server, agent, loadbalancer or all`},
		{"@", `empty node filter: write server, agent`},
		{"server:0;", `empty node filter between separators: write one filter between each '@' or ';'`},
		{"server:0;;agent:1", `empty node filter between separators`},
		{"server:0@@agent:1", `empty node filter between separators`},
		{"workerz[0]", `node filter "workerz[0]": unknown node group "workerz": write server, agent, loadbalancer or all (e.g. @server:0, @agent:*, @agent:0-2), the seed's workers[0,2-3] or masters, or a node's full name (e.g. @k3d-dev-agent-0)`},
		{"Server:0", `unknown node group "Server"`},
		{"mynode", `unknown node group "mynode"`},
		{"k3d-", `unknown node group "k3d-"`},
		{"k3d-a/b", `unknown node group "k3d-a/b"`},
		{":0", `node filter ":0": missing node group before the subset`},
		{"[0]", `node filter "[0]": missing node group before the subset`},
		{"server:", `node filter "server:": empty subset: write an index (0), a list (0,2), a range (0-2) or * for every node`},
		{"workers[]", `node filter "workers[]": empty subset`},
		{"server::direct", `node filter "server::direct": empty subset`},
		{"server:0:", `node filter "server:0:": empty suffix after ':': write :proxy or :direct, or drop the ':'`},
		{"workers[0]:", `empty suffix after ':'`},
		{"server:0:fast", `node filter "server:0:fast": unknown suffix "fast": write :proxy or :direct (ports only)`},
		{"server:nosuffix", `unknown suffix "nosuffix"`},
		{"server:0:direct:x", `node filter "server:0:direct:x": too many ':': write GROUP[:SUBSET][:SUFFIX], e.g. agent:0-2:direct`},
		{"agent:1,", `node filter "agent:1,": empty item in subset "1,": write indexes separated by single commas, e.g. 0,2`},
		{"agent:,1", `empty item in subset ",1"`},
		{"agent:0,*", `'*' already means every node and cannot be part of a list: write * alone`},
		{"agent:3-1", `node filter "agent:3-1": range 3-1 runs backwards: write 1-3`},
		{"agent:x", `unknown suffix "x"`},
		{"agent:1x", `node filter "agent:1x": index "1x" is not a number: write e.g. 0, 0,2 or 0-2`},
		{"agent:1-2-3", `index "2-3" is not a number`},
		{"agent:99999999999999999999", `index 99999999999999999999 is too large (at most 65535)`},
		{"agent:65536", `index 65536 is too large (at most 65535)`},
		{"workers[0", `node filter "workers[0": '[' is not closed: write e.g. workers[0,2-3]`},
		{"workers[0]x", `node filter "workers[0]x": unexpected "x" after ']': only a suffix may follow, e.g. workers[0]:direct`},
		{"all:0", `node filter "all:0": 'all' takes no index: write @all, or name a group, e.g. @agent:0`},
		{"k3d-dev-agent-0:1", `node filter "k3d-dev-agent-0:1": a node name selects one node and takes no index: write @k3d-dev-agent-0`},
		{"k3d-dev-agent-0[1]", `a node name selects one node and takes no index`},
		{"server:0;bogus", `unknown node group "bogus"`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error containing %q", tt.in, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error\n  %v\nwant it to contain\n  %s", tt.in, err, tt.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) error spans lines: %q", tt.in, err)
		}
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		in        string
		value     string
		filterStr string // Format of the filters; "" for none
	}{
		{"8080:80@loadbalancer", "8080:80", "loadbalancer"},
		{"8080:80", "8080:80", ""},
		{"/tmp:/tmp@agent:0;server:1", "/tmp:/tmp", "agent:0;server:1"},
		{"--disable=traefik@server:0", "--disable=traefik", "server:0"},
		{"--disable=traefik@server:*", "--disable=traefik", "server:*"},
		{"HTTP_PROXY=my.proxy.com@server:0", "HTTP_PROXY=my.proxy.com", "server:0"},
		{"SOME_KEY=SOME_VAL@server:0", "SOME_KEY=SOME_VAL", "server:0"},
		{"--node-label=foo=bar@agent:0", "--node-label=foo=bar", "agent:0"},
		{"8080:80@agent:0:direct", "8080:80", "agent:0:direct"},
		{"--rootless@all", "--rootless", "all"},
		{"--disable=traefik@server:0;@agent:*", "--disable=traefik", "server:0;agent:*"},
		// Every example of the seed (thoughts.md).
		{"0.0.0.0:8080:8081/tcp@workers", "0.0.0.0:8080:8081/tcp", "agent:*"},
		{"80@workers[0]", "80", "agent:0"},
		{"80@workers[0,2-3]", "80", "agent:0,2-3"},
		{"80@k3d-test-worker-0", "80", "k3d-test-worker-0"},
		{"80@k3d-test-master-0@workers[1-5]", "80", "k3d-test-master-0;agent:1-5"},
		// Escaping a literal '@' in the value.
		{`EMAIL=me\@example.com@server:0`, "EMAIL=me@example.com", "server:0"},
		{`EMAIL=me\@example.com`, "EMAIL=me@example.com", ""},
		{`C:\\@server:0`, `C:\`, "server:0"},
		{`a\\\@b`, `a\@b`, ""},
		{`path\with\backslashes@agent:0`, `path\with\backslashes`, "agent:0"},
		{"@server:0", "", "server:0"},
	}
	for _, tt := range tests {
		value, filters, err := Split(tt.in)
		if err != nil {
			t.Errorf("Split(%q): %v", tt.in, err)
			continue
		}
		if value != tt.value || Format(filters) != tt.filterStr {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", tt.in, value, Format(filters), tt.value, tt.filterStr)
		}
	}
}

func TestSplitErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"8080:80@", `"8080:80@" ends with '@' but names no node: write a filter after it (e.g. @server:0, @agent:*, @loadbalancer or @all), or \@ for a literal '@'`},
		{"8080:80@ ", `ends with '@' but names no node`},
		{"EMAIL=me@example.com", `node filter "example.com": unknown node group "example.com": write server, agent, loadbalancer or all (e.g. @server:0, @agent:*, @agent:0-2), the seed's workers[0,2-3] or masters, or a node's full name (e.g. @k3d-dev-agent-0); if the '@' belongs to the value, write it as \@`},
		{"EMAIL=me@example.com@server:0", `unknown node group "example.com"`},
		{"80@workers[0]@typo", `unknown node group "typo"`},
		{"80@agent:3-1", `range 3-1 runs backwards`},
	}
	for _, tt := range tests {
		_, _, err := Split(tt.in)
		if err == nil {
			t.Errorf("Split(%q) succeeded, want error containing %q", tt.in, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Split(%q) error\n  %v\nwant it to contain\n  %s", tt.in, err, tt.want)
		}
	}
}

func TestJoin(t *testing.T) {
	tests := []struct {
		value   string
		filters string
		want    string
	}{
		{"8080:80", "loadbalancer", "8080:80@loadbalancer"},
		{"EMAIL=me@example.com", "server:0", `EMAIL=me\@example.com@server:0`},
		{"EMAIL=me@example.com", "", `EMAIL=me\@example.com`},
		{`C:\`, "server:0", `C:\\@server:0`},
		{`a\@b`, "", `a\\\@b`},
		{`a\b`, "", `a\b`},
	}
	for _, tt := range tests {
		var fs []Filter
		if tt.filters != "" {
			fs = MustParse(tt.filters)
		}
		got := Join(tt.value, fs)
		if got != tt.want {
			t.Errorf("Join(%q, %q) = %q, want %q", tt.value, tt.filters, got, tt.want)
		}
		v, back, err := Split(got)
		if err != nil || v != tt.value || Format(back) != tt.filters {
			t.Errorf("Split(%q) = %q, %q, %v; want %q, %q", got, v, Format(back), err, tt.value, tt.filters)
		}
	}
}
