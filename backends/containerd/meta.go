package containerd

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/containerd/containers"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/k3d/k3d/backends"
)

// nodeMeta is what the backend knows about a node beyond containerd's own
// record: what the spec asked for in the contract's words, and the network
// state it set up. It lives in the container record itself (an extension),
// so that it is created and deleted with the node, atomically.
type nodeMeta struct {
	ID            string                 `json:"id"`
	Image         string                 `json:"image"`
	Hostname      string                 `json:"hostname"`
	Networks      []attachment           `json:"networks,omitempty"`
	Ports         []backends.PortMapping `json:"ports,omitempty"`
	Mounts        []backends.Mount       `json:"mounts,omitempty"`
	ExtraHosts    []backends.HostEntry   `json:"extraHosts,omitempty"`
	Privileged    bool                   `json:"privileged,omitempty"`
	RestartPolicy backends.RestartPolicy `json:"restartPolicy"`
	MemoryLimit   int64                  `json:"memoryLimit,omitempty"`
	Ulimits       []backends.Ulimit      `json:"ulimits,omitempty"`
	HostPID       bool                   `json:"hostPID,omitempty"`
	GPUs          string                 `json:"gpus,omitempty"`
	// EmptyLabels are the keys of labels given with an empty value, which
	// containerd does not keep (an empty value deletes a label there).
	EmptyLabels []string `json:"emptyLabels,omitempty"`
	// NetNS is the node's network namespace (a bind mount under the data
	// root); it lives as long as the node, so that addresses and published
	// ports survive stops and restarts.
	NetNS string `json:"netns,omitempty"`
}

// attachment is a node on one network.
type attachment struct {
	Network string   `json:"network"`
	IfName  string   `json:"ifname"`
	Aliases []string `json:"aliases,omitempty"`
	// IPv4 is the address CNI gave (or the static one asked for).
	IPv4 string `json:"ipv4,omitempty"`
	// Static says IPv4 was asked for, not chosen.
	Static bool `json:"static,omitempty"`
}

func (m *nodeMeta) attachment(network string) *attachment {
	for i := range m.Networks {
		if m.Networks[i].Network == network {
			return &m.Networks[i]
		}
	}
	return nil
}

// extensionMeta names the container extension holding nodeMeta, and
// metaTypeURL its type (JSON, not protobuf: containerd stores extensions
// as opaque bytes).
const (
	extensionMeta = "k3d.node"
	metaTypeURL   = "k3d.io/runtime/containerd/nodeMeta"
)

func (m nodeMeta) any() (*anypb.Any, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &anypb.Any{TypeUrl: metaTypeURL, Value: b}, nil
}

// nodeRecord is a container with the backend's metadata, as read in one go.
type nodeRecord struct {
	name string
	c    containers.Container
	meta nodeMeta
}

func recordFrom(c containers.Container) (nodeRecord, bool) {
	ext, ok := c.Extensions[extensionMeta]
	if !ok || ext.GetTypeUrl() != metaTypeURL {
		// Not a node of this backend (someone's `ctr run` in our namespace).
		return nodeRecord{}, false
	}
	var m nodeMeta
	if err := json.Unmarshal(ext.GetValue(), &m); err != nil {
		return nodeRecord{}, false
	}
	return nodeRecord{name: c.ID, c: c, meta: m}, true
}

// nodeRecord reads one node's record.
func (r *Runtime) nodeRecord(ctx context.Context, name string) (nodeRecord, error) {
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return nodeRecord{}, err
	}
	c, err := cli.ContainerService().Get(ctx, name)
	if err != nil {
		return nodeRecord{}, r.typed(err, nodeObj(name))
	}
	rec, ok := recordFrom(c)
	if !ok {
		return nodeRecord{}, backends.NewError(backends.ErrNotFound, nodeObj(name), "a container of that name exists in containerd namespace, but k3d did not create it")
	}
	return rec, nil
}

// listNodeRecords reads every node in the namespace in one call.
func (r *Runtime) listNodeRecords(ctx context.Context) ([]nodeRecord, error) {
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return nil, err
	}
	cs, err := cli.ContainerService().List(ctx)
	if err != nil {
		return nil, r.typed(err, "nodes")
	}
	var out []nodeRecord
	for _, c := range cs {
		if rec, ok := recordFrom(c); ok {
			out = append(out, rec)
		}
	}
	return out, nil
}

// saveMeta replaces a node's metadata in its record. Callers hold the state
// lock, so that two updates never interleave.
func (r *Runtime) saveMeta(ctx context.Context, name string, m nodeMeta) error {
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return err
	}
	a, err := m.any()
	if err != nil {
		return err
	}
	rec, err := cli.ContainerService().Get(ctx, name)
	if err != nil {
		return r.typed(err, nodeObj(name))
	}
	if rec.Extensions == nil {
		return fmt.Errorf("node %s has no metadata", name)
	}
	rec.Extensions[extensionMeta] = a
	if _, err := cli.ContainerService().Update(ctx, rec, "extensions."+extensionMeta); err != nil {
		return r.typed(err, nodeObj(name))
	}
	return nil
}

// jsonUnmarshalAny reads a record field containerd stores as JSON (the
// OCI spec).
func jsonUnmarshalAny(a interface{ GetValue() []byte }, v any) error {
	if a == nil {
		return fmt.Errorf("missing")
	}
	return json.Unmarshal(a.GetValue(), v)
}
