package k3s

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"runtime"
	"sort"
	"strings"
	"time"
)

// The Kubernetes objects the double serves, as JSON with the field names of
// k8s.io/api, so that client-go and kubectl decode them. Importing k8s.io/api
// itself would make the binary many times larger and slower to start.

type objectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	CreationTimestamp string            `json:"creationTimestamp"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
}

type listMeta struct {
	ResourceVersion string `json:"resourceVersion"`
}

type nodeObject struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Metadata   objectMeta `json:"metadata"`
	Spec       nodeSpec   `json:"spec"`
	Status     nodeStatus `json:"status"`
}

type nodeSpec struct {
	PodCIDR    string  `json:"podCIDR,omitempty"`
	ProviderID string  `json:"providerID,omitempty"`
	Taints     []Taint `json:"taints,omitempty"`
}

type nodeStatus struct {
	Capacity        map[string]string `json:"capacity"`
	Allocatable     map[string]string `json:"allocatable"`
	Conditions      []condition       `json:"conditions"`
	Addresses       []nodeAddress     `json:"addresses"`
	DaemonEndpoints struct {
		KubeletEndpoint struct {
			Port int `json:"Port"`
		} `json:"kubeletEndpoint"`
	} `json:"daemonEndpoints"`
	NodeInfo nodeInfo `json:"nodeInfo"`
}

type condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	LastHeartbeatTime  string `json:"lastHeartbeatTime,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
}

type nodeAddress struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

type nodeInfo struct {
	MachineID               string `json:"machineID"`
	SystemUUID              string `json:"systemUUID"`
	BootID                  string `json:"bootID"`
	KernelVersion           string `json:"kernelVersion"`
	OSImage                 string `json:"osImage"`
	ContainerRuntimeVersion string `json:"containerRuntimeVersion"`
	KubeletVersion          string `json:"kubeletVersion"`
	KubeProxyVersion        string `json:"kubeProxyVersion"`
	OperatingSystem         string `json:"operatingSystem"`
	Architecture            string `json:"architecture"`
}

type nodeList struct {
	Kind       string       `json:"kind"`
	APIVersion string       `json:"apiVersion"`
	Metadata   listMeta     `json:"metadata"`
	Items      []nodeObject `json:"items"`
}

const (
	osImage        = "K3s test double"
	runtimeVersion = "containerd://2.0.0-k3s-double"
	// nodeLostAfter is the node controller's grace period: a node not heard
	// of for this long is no longer Ready.
	nodeLostAfter = 40 * time.Second
)

func kubeTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// uid derives a stable UID, so that a node keeps its UID on every server.
func uid(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// nodeReady says whether the node counts as Ready at now: it is as long as
// it was heard of within the grace period.
func nodeReady(rec NodeRecord, now time.Time) bool {
	return now.Sub(rec.HeartbeatAt) <= nodeLostAfter
}

// evictionHardKB is the kubelet's default memory.available hard eviction
// threshold, which it keeps back from allocatable memory.
const evictionHardKB = 100 << 10

func toNode(rec NodeRecord, now time.Time, rv string) nodeObject {
	n := nodeObject{Kind: "Node", APIVersion: "v1"}
	n.Metadata = objectMeta{
		Name:              rec.Name,
		UID:               uid(rec.Name, kubeTime(rec.CreatedAt)),
		ResourceVersion:   rv,
		CreationTimestamp: kubeTime(rec.CreatedAt),
		Labels:            rec.Labels,
		Annotations: map[string]string{
			"k3s.io/hostname":              rec.Hostname,
			"k3s.io/internal-ip":           rec.InternalIP,
			"node.alpha.kubernetes.io/ttl": "0",
		},
	}
	if rec.ExternalIP != "" {
		n.Metadata.Annotations["k3s.io/external-ip"] = rec.ExternalIP
	}
	n.Spec = nodeSpec{ProviderID: "k3s://" + rec.Name, Taints: rec.Taints}
	capacity := map[string]string{"cpu": fmt.Sprint(runtime.NumCPU()), "memory": "2Gi", "pods": "110", "ephemeral-storage": "10Gi"}
	allocatable := maps.Clone(capacity)
	if rec.MemoryKB > 0 {
		// As the kubelet reports it: the machine's memory, less the default
		// hard eviction threshold (memory.available<100Mi).
		capacity["memory"] = fmt.Sprintf("%dKi", rec.MemoryKB)
		allocatable["memory"] = fmt.Sprintf("%dKi", max(rec.MemoryKB-evictionHardKB, 0))
	}
	n.Status.Capacity = capacity
	n.Status.Allocatable = allocatable
	hb, created := kubeTime(rec.HeartbeatAt), kubeTime(rec.CreatedAt)
	ready := condition{Type: "Ready", Status: "True", LastHeartbeatTime: hb, LastTransitionTime: created,
		Reason: "KubeletReady", Message: "kubelet is posting ready status"}
	if !nodeReady(rec, now) {
		ready = condition{Type: "Ready", Status: "Unknown", LastHeartbeatTime: hb,
			LastTransitionTime: kubeTime(rec.HeartbeatAt.Add(nodeLostAfter)),
			Reason:             "NodeStatusUnknown", Message: "Kubelet stopped posting node status."}
	}
	n.Status.Conditions = []condition{
		{Type: "MemoryPressure", Status: "False", LastHeartbeatTime: hb, LastTransitionTime: created, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: "DiskPressure", Status: "False", LastHeartbeatTime: hb, LastTransitionTime: created, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: "PIDPressure", Status: "False", LastHeartbeatTime: hb, LastTransitionTime: created, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		ready,
	}
	if rec.InternalIP != "" {
		n.Status.Addresses = append(n.Status.Addresses, nodeAddress{Type: "InternalIP", Address: rec.InternalIP})
	}
	if rec.ExternalIP != "" {
		n.Status.Addresses = append(n.Status.Addresses, nodeAddress{Type: "ExternalIP", Address: rec.ExternalIP})
	}
	n.Status.Addresses = append(n.Status.Addresses, nodeAddress{Type: "Hostname", Address: rec.Name})
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = 10250
	n.Status.NodeInfo = nodeInfo{
		MachineID: uid("machine", rec.Name), SystemUUID: uid("system", rec.Name), BootID: uid("boot", rec.Name, kubeTime(rec.UpdatedAt)),
		KernelVersion: rec.Kernel, OSImage: osImage, ContainerRuntimeVersion: runtimeVersion,
		KubeletVersion: Version, KubeProxyVersion: Version, OperatingSystem: "linux", Architecture: rec.Arch,
	}
	return n
}

// roles is kubectl's ROLES column: the node-role.kubernetes.io/ labels.
func roles(labels map[string]string) string {
	var r []string
	for k := range labels {
		if role, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok && role != "" {
			r = append(r, role)
		}
	}
	if len(r) == 0 {
		return "<none>"
	}
	sort.Strings(r)
	return strings.Join(r, ",")
}

// age formats a duration the way kubectl's AGE column does.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 10*time.Minute:
		s := int(d.Seconds()) % 60
		if s == 0 {
			return fmt.Sprintf("%dm", int(d.Minutes()))
		}
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), s)
	case d < 3*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 8*time.Hour:
		m := int(d.Minutes()) % 60
		if m == 0 {
			return fmt.Sprintf("%dh", int(d.Hours()))
		}
		return fmt.Sprintf("%dh%dm", int(d.Hours()), m)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// Server-side printing: kubectl asks for a meta.k8s.io Table and prints its
// cells, so `kubectl get nodes` shows the columns users know.

type table struct {
	Kind              string        `json:"kind"`
	APIVersion        string        `json:"apiVersion"`
	Metadata          listMeta      `json:"metadata"`
	ColumnDefinitions []tableColumn `json:"columnDefinitions"`
	Rows              []tableRow    `json:"rows"`
}

type tableColumn struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Format      string `json:"format"`
	Description string `json:"description"`
	Priority    int    `json:"priority"`
}

type tableRow struct {
	Cells  []any          `json:"cells"`
	Object partialObjMeta `json:"object"`
}

type partialObjMeta struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Metadata   objectMeta `json:"metadata"`
}

func nodeTable(nodes []nodeObject, now time.Time, rv, apiVersion string) table {
	t := table{Kind: "Table", APIVersion: apiVersion, Metadata: listMeta{ResourceVersion: rv},
		ColumnDefinitions: []tableColumn{
			{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."},
			{Name: "Status", Type: "string", Description: "The status of the node"},
			{Name: "Roles", Type: "string", Description: "The roles of the node"},
			{Name: "Age", Type: "string", Description: "CreationTimestamp is a timestamp representing the server time when this object was created."},
			{Name: "Version", Type: "string", Description: "Kubelet Version reported by the node."},
			{Name: "Internal-IP", Type: "string", Description: "List of addresses reachable to the node.", Priority: 1},
			{Name: "External-IP", Type: "string", Description: "List of addresses reachable to the node.", Priority: 1},
			{Name: "OS-Image", Type: "string", Description: "OS Image reported by the node from /etc/os-release.", Priority: 1},
			{Name: "Kernel-Version", Type: "string", Description: "Kernel Version reported by the node.", Priority: 1},
			{Name: "Container-Runtime", Type: "string", Description: "Container Runtime Version reported by the node.", Priority: 1},
		}}
	t.Rows = []tableRow{}
	for _, n := range nodes {
		status := "NotReady"
		for _, c := range n.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				status = "Ready"
			}
		}
		for _, tn := range n.Spec.Taints {
			if tn.Key == "node.kubernetes.io/unschedulable" {
				status += ",SchedulingDisabled"
			}
		}
		internal, external := "<none>", "<none>"
		for _, a := range n.Status.Addresses {
			switch a.Type {
			case "InternalIP":
				internal = a.Address
			case "ExternalIP":
				external = a.Address
			}
		}
		created, _ := time.Parse(time.RFC3339, n.Metadata.CreationTimestamp)
		t.Rows = append(t.Rows, tableRow{
			Cells: []any{n.Metadata.Name, status, roles(n.Metadata.Labels), age(now.Sub(created)), n.Status.NodeInfo.KubeletVersion,
				internal, external, n.Status.NodeInfo.OSImage, n.Status.NodeInfo.KernelVersion, n.Status.NodeInfo.ContainerRuntimeVersion},
			Object: partialObjMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1", Metadata: n.Metadata},
		})
	}
	return t
}
