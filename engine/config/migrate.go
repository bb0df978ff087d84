package config

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Migrate converts a k3d.io/v1alpha2, v1alpha3 or v1alpha4 Simple config to
// v1alpha5, with k3d's renames, keeping the file's order and comments. A
// v1alpha5 file comes back as it is. The result passes the schema (fields
// not supported yet are kept: migrating is not creating).
func Migrate(name string, data []byte) ([]byte, error) {
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	f := &File{Path: name, root: root}
	api, apiNode := f.scalar("apiVersion")
	k, _ := f.scalar("kind")
	if apiNode == nil || !strings.HasPrefix(api, "k3d.io/") {
		return nil, f.errorf(nil, "is not a k3d config (apiVersion %q): nothing to migrate", api)
	}
	if k != KindSimple {
		return nil, f.errorf([]string{"kind"}, "kind %q cannot be migrated: only kind %s is", k, KindSimple)
	}
	steps := map[string]func(*yaml.Node){
		"k3d.io/v1alpha2": fromV1alpha2,
		"k3d.io/v1alpha3": fromV1alpha3,
		"k3d.io/v1alpha4": func(*yaml.Node) {},
	}
	order := []string{"k3d.io/v1alpha2", "k3d.io/v1alpha3", "k3d.io/v1alpha4"}
	start := -1
	for i, v := range order {
		if v == api {
			start = i
		}
	}
	if start < 0 && api != APIVersion {
		return nil, f.errorf([]string{"apiVersion"}, "%s is not a version k3d config migrate knows (it converts %s to %s)", api, strings.Join(order, ", "), APIVersion)
	}
	if start >= 0 {
		for _, v := range order[start:] {
			steps[v](root)
		}
		apiNode.Value = APIVersion
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("write migrated config: %w", err)
	}
	out := buf.Bytes()
	check, err := parseYAML(name, out)
	if err != nil {
		return nil, err
	}
	cf := &File{Path: name, root: check}
	if err := cf.validate(); err != nil {
		return nil, fmt.Errorf("the migrated config does not pass the %s schema: %w", APIVersion, err)
	}
	return out, nil
}

// fromV1alpha2 makes a v1alpha2 file v1alpha3: node filters lose their
// brackets (agent[0] -> agent:0), top-level labels become runtime labels,
// extraServerArgs/extraAgentArgs become extraArgs with filters, and
// registries.create turns from a flag into a registry.
func fromV1alpha2(root *yaml.Node) {
	fixFilters(root)
	if labels := mapDelete(root, "labels"); labels != nil {
		rt := ensureMap(root, "options", "runtime")
		appendSeq(rt, "labels", labels.Content...)
	}
	if k3s := mapGet(mapGet(root, "options"), "k3s"); k3s != nil {
		for _, kf := range [][2]string{{"extraServerArgs", "server:*"}, {"extraAgentArgs", "agent:*"}} {
			key, filter := kf[0], kf[1]
			args := mapDelete(k3s, key)
			if args == nil {
				continue
			}
			var items []*yaml.Node
			for _, a := range args.Content {
				items = append(items, mapping("arg", scalar(a.Value), "nodeFilters", seq(scalar(filter))))
			}
			appendSeq(k3s, "extraArgs", items...)
		}
	}
	if reg := mapGet(root, "registries"); reg != nil {
		if c := mapGet(reg, "create"); c != nil && c.Kind == yaml.ScalarNode {
			mapDelete(reg, "create")
			if c.Value == "true" {
				name := "k3s-default"
				if n := mapGet(root, "name"); n != nil && n.Value != "" {
					name = n.Value
				}
				mapSet(reg, "create", mapping("name", scalar("k3d-"+name+"-registry"), "host", scalar("0.0.0.0"), "hostPort", scalar("random")))
			}
		}
		if len(reg.Content) == 0 {
			mapDelete(root, "registries")
		}
	}
}

// fromV1alpha3 makes a v1alpha3 file v1alpha4: the name moves to metadata.
func fromV1alpha3(root *yaml.Node) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "name" {
			continue
		}
		name := root.Content[i+1]
		if md := mapGet(root, "metadata"); md != nil {
			if mapGet(md, "name") == nil {
				mapSet(md, "name", name)
			}
			mapDelete(root, "name")
			return
		}
		// metadata takes name's place, so the file reads in the same order.
		root.Content[i] = scalar("metadata")
		root.Content[i+1] = mapping("name", name)
		return
	}
}

// fixFilters rewrites v1alpha2's group[index] filters in every nodeFilters list.
func fixFilters(n *yaml.Node) {
	r := strings.NewReplacer("[", ":", "]", "")
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "nodeFilters" && n.Content[i+1].Kind == yaml.SequenceNode {
					for _, f := range n.Content[i+1].Content {
						f.Value = r.Replace(f.Value)
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
}

func mapGet(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func mapDelete(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return v
		}
	}
	return nil
}

func mapSet(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, scalar(key), v)
}

func ensureMap(m *yaml.Node, path ...string) *yaml.Node {
	for _, p := range path {
		next := mapGet(m, p)
		if next == nil || next.Kind != yaml.MappingNode {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			mapSet(m, p, next)
		}
		m = next
	}
	return m
}

func appendSeq(m *yaml.Node, key string, items ...*yaml.Node) {
	s := mapGet(m, key)
	if s == nil || s.Kind != yaml.SequenceNode {
		s = seq()
		mapSet(m, key, s)
	}
	s.Content = append(s.Content, items...)
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func seq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
}

func mapping(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Content = append(m.Content, scalar(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return m
}
