// Package nodefilter parses and applies node filters: the `@server:0`, `@agent:*`, `@workers[0,2-3]` targets of k3d flags.
//
// Grammar (both k3d v5's form and the original design's form are accepted):
//
//	chain   = filter { ( "@" | ";" | ";@" ) filter }
//	filter  = group [ ":" subset ] [ ":" suffix ]      k3d v5:  server:0, agent:1,2, agent:0-2:direct, all
//	        | group "[" subset "]" [ ":" suffix ]      seed/v4: workers[0,2-3], masters, agent[*], agent[1:3]
//	        | name [ ":" suffix ]                      one node by full name: k3d-dev-agent-0
//	group   = server | servers | master | masters | agent | agents | worker | workers | loadbalancer | lb | all
//	subset  = "*" | item { "," item }
//	item    = N | N "-" M | N "-" | "-" M            (inside brackets ':' may stand for '-')
//	suffix  = proxy | direct                         (only meaningful for ports)
//	name    = "k3d-" followed by letters, digits, '_', '.', '-'
//
// A group without a subset means every node of the group. Names must start with "k3d-"
// (every node k3d creates does): that keeps a mistyped group word from being read as a
// node name, and a value that merely contains '@' from being read as a filter.
package nodefilter

import (
	"strconv"
	"strings"
)

// Group is the set of nodes a filter starts from.
type Group string

const (
	GroupServer       Group = "server"
	GroupAgent        Group = "agent"
	GroupLoadBalancer Group = "loadbalancer"
	GroupAll          Group = "all"
	// GroupNode selects the one node named by Filter.Name.
	GroupNode Group = "node"
)

// Suffix carries a flag-specific option after the filter; only ports use one.
type Suffix string

const (
	SuffixNone Suffix = ""
	// SuffixProxy publishes a port on the load balancer, which forwards it to the filtered nodes.
	SuffixProxy Suffix = "proxy"
	// SuffixDirect publishes a port on the filtered node itself.
	SuffixDirect Suffix = "direct"
)

// OpenEnd as Range.Last means "through the group's highest index" (`agent:2-`).
const OpenEnd = -1

// maxIndex bounds indexes so that a typo like `agent:99999999999` is an error, not an overflow.
const maxIndex = 65535

// Range is an inclusive span of node indexes within a group; a single index has First == Last.
type Range struct {
	First int
	Last  int // OpenEnd for an open range
}

// Filter is one parsed node filter.
type Filter struct {
	Group Group
	// Name is the node's full name when Group is GroupNode.
	Name string
	// Ranges restricts GroupServer, GroupAgent and GroupLoadBalancer to some indexes;
	// nil means every node of the group.
	Ranges []Range
	Suffix Suffix
}

// Node roles as NodeRef.Role spells them; they are the values of k3d's `k3d.role` label.
const (
	RoleServer       = "server"
	RoleAgent        = "agent"
	RoleLoadBalancer = "loadbalancer"
)

// groupWords maps every accepted group word to its Group. The seed's master/worker and
// k3d v5's plural forms are synonyms, so old scripts keep working.
var groupWords = map[string]Group{
	"server": GroupServer, "servers": GroupServer, "master": GroupServer, "masters": GroupServer,
	"agent": GroupAgent, "agents": GroupAgent, "worker": GroupAgent, "workers": GroupAgent,
	"loadbalancer": GroupLoadBalancer, "lb": GroupLoadBalancer,
	"all": GroupAll,
}

// String renders the filter in k3d v5's form; Parse(f.String()) gives f back.
func (f Filter) String() string {
	var b strings.Builder
	switch f.Group {
	case GroupNode:
		b.WriteString(f.Name)
	case GroupAll:
		b.WriteString("all")
	default:
		b.WriteString(string(f.Group))
		if f.Ranges != nil {
			b.WriteByte(':')
			for i, r := range f.Ranges {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(r.String())
			}
		} else if f.Group != GroupLoadBalancer {
			b.WriteString(":*")
		}
	}
	if f.Suffix != SuffixNone {
		b.WriteByte(':')
		b.WriteString(string(f.Suffix))
	}
	return b.String()
}

// String renders "3", "1-3" or "2-".
func (r Range) String() string {
	if r.First == r.Last {
		return strconv.Itoa(r.First)
	}
	if r.Last == OpenEnd {
		return strconv.Itoa(r.First) + "-"
	}
	return strconv.Itoa(r.First) + "-" + strconv.Itoa(r.Last)
}

// Format renders filters as one chain, `server:0;agent:*`, which Parse reads back.
func Format(filters []Filter) string {
	parts := make([]string, len(filters))
	for i, f := range filters {
		parts[i] = f.String()
	}
	return strings.Join(parts, ";")
}
