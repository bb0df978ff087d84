package nodefilter

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// NodeRef is what a filter needs to know about a node.
type NodeRef struct {
	Name string
	// Role is RoleServer, RoleAgent or RoleLoadBalancer; other roles (a registry) are
	// selected only by name or by `all`.
	Role string
	// Index is the node's number within its role: 2 for k3d-dev-agent-2, 0 for the load balancer.
	Index int
}

// Match returns the nodes any of filters selects, each once, in the order of nodes.
// It is an error when a filter names an index or a node that does not exist, or when
// the filters together select nothing. A wildcard over an empty group (`agent:*` in a
// cluster without agents) is not an error by itself, so `server:0;agent:*` works in
// any cluster.
func Match(filters []Filter, nodes []NodeRef) ([]NodeRef, error) {
	selected := map[string]bool{}
	for _, f := range filters {
		got, err := f.Match(nodes)
		if err != nil {
			return nil, err
		}
		for _, n := range got {
			selected[n.Name] = true
		}
	}
	var out []NodeRef
	for _, n := range nodes {
		if selected[n.Name] {
			out = append(out, n)
			delete(selected, n.Name) // a duplicated name is returned once
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("node filter %q matches no node: %s", Format(filters), describe(nodes))
	}
	return out, nil
}

// Match returns the nodes f selects, in the order of nodes; it may be empty for a
// whole-group filter over an empty group.
func (f Filter) Match(nodes []NodeRef) ([]NodeRef, error) {
	switch f.Group {
	case GroupAll:
		return append([]NodeRef(nil), nodes...), nil
	case GroupNode:
		for _, n := range nodes {
			if n.Name == f.Name {
				return []NodeRef{n}, nil
			}
		}
		return nil, fmt.Errorf("node filter %q: no node named %s; the nodes are %s", f.String(), f.Name, names(nodes))
	}

	role := roleOf(f.Group)
	var group []NodeRef
	for _, n := range nodes {
		if n.Role == role {
			group = append(group, n)
		}
	}
	if f.Ranges == nil {
		return group, nil
	}
	have := map[int]bool{}
	maxHave := -1
	for _, n := range group {
		have[n.Index] = true
		maxHave = max(maxHave, n.Index)
	}
	missing := func(i int) error {
		return fmt.Errorf("node filter %q: no %s with index %d; %s", f.String(), noun(role, 1), i, describeGroup(role, group))
	}
	want := map[int]bool{}
	for _, r := range f.Ranges {
		if !have[r.First] {
			return nil, missing(r.First)
		}
		last := r.Last
		if last == OpenEnd {
			last = maxHave
		} else if !have[last] {
			return nil, missing(last)
		}
		for _, n := range group {
			if n.Index >= r.First && n.Index <= last {
				want[n.Index] = true
			}
		}
	}
	var out []NodeRef
	for _, n := range group {
		if want[n.Index] {
			out = append(out, n)
		}
	}
	return out, nil
}

func roleOf(g Group) string {
	switch g {
	case GroupServer:
		return RoleServer
	case GroupAgent:
		return RoleAgent
	default:
		return RoleLoadBalancer
	}
}

func noun(role string, n int) string {
	word := role
	if role == RoleLoadBalancer {
		word = "load balancer"
	}
	if n == 1 {
		return word
	}
	return word + "s"
}

// describeGroup says which indexes exist, the way a user would write them:
// "the cluster has 3 agents: agent:0 to agent:2".
func describeGroup(role string, group []NodeRef) string {
	if len(group) == 0 {
		return "the cluster has no " + noun(role, 2)
	}
	idx := make([]int, 0, len(group))
	for _, n := range group {
		idx = append(idx, n.Index)
	}
	sort.Ints(idx)
	word := role
	s := fmt.Sprintf("the cluster has %d %s: ", len(group), noun(role, len(group)))
	switch {
	case len(idx) == 1:
		return s + word + ":" + strconv.Itoa(idx[0])
	case idx[len(idx)-1]-idx[0] == len(idx)-1:
		return s + fmt.Sprintf("%s:%d to %s:%d", word, idx[0], word, idx[len(idx)-1])
	default:
		parts := make([]string, len(idx))
		for i, v := range idx {
			parts[i] = word + ":" + strconv.Itoa(v)
		}
		return s + strings.Join(parts, ", ")
	}
}

// describe summarises a cluster for "matches nothing" errors.
func describe(nodes []NodeRef) string {
	count := map[string]int{}
	for _, n := range nodes {
		count[n.Role]++
	}
	lb := "no load balancer"
	if count[RoleLoadBalancer] > 0 {
		lb = "a load balancer"
	}
	return fmt.Sprintf("the cluster has %d %s, %d %s and %s", count[RoleServer], noun(RoleServer, count[RoleServer]),
		count[RoleAgent], noun(RoleAgent, count[RoleAgent]), lb)
}

// names lists node names for "no node named" errors, shortened for big clusters.
func names(nodes []NodeRef) string {
	if len(nodes) == 0 {
		return "none"
	}
	const show = 8
	var parts []string
	for i, n := range nodes {
		if i == show {
			parts = append(parts, fmt.Sprintf("and %d more", len(nodes)-show))
			break
		}
		parts = append(parts, n.Name)
	}
	return strings.Join(parts, ", ")
}
