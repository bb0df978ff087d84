package k3s

import (
	"fmt"
	"strings"
	"time"
)

// The system pods k3s deploys on its first server. The double has no
// containers, but it reports these pods as a real cluster would: running,
// or stuck in ContainerCreating when the node's containerd cannot start a pod
// sandbox (see Host.LowerOOMScoreAdj), which is how that host problem shows.

type systemPod struct {
	component string // the --disable name that removes it
	name      string
	app       string
	image     string
}

var systemPods = []systemPod{
	{component: "coredns", name: "coredns", app: "kube-dns", image: "rancher/mirrored-coredns-coredns:1.12.3"},
	{component: "local-storage", name: "local-path-provisioner", app: "local-path-provisioner", image: "rancher/local-path-provisioner:v0.0.32"},
	{component: "metrics-server", name: "metrics-server", app: "metrics-server", image: "rancher/mirrored-metrics-server:v0.8.0"},
}

type podObject struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Metadata   objectMeta `json:"metadata"`
	Spec       struct {
		NodeName   string         `json:"nodeName"`
		Containers []podContainer `json:"containers"`
	} `json:"spec"`
	Status podStatus `json:"status"`
}

type podContainer struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

type podStatus struct {
	Phase             string            `json:"phase"`
	Conditions        []condition       `json:"conditions"`
	HostIP            string            `json:"hostIP,omitempty"`
	PodIP             string            `json:"podIP,omitempty"`
	StartTime         string            `json:"startTime,omitempty"`
	ContainerStatuses []containerStatus `json:"containerStatuses"`
}

type containerStatus struct {
	Name         string         `json:"name"`
	Ready        bool           `json:"ready"`
	RestartCount int            `json:"restartCount"`
	Image        string         `json:"image"`
	ImageID      string         `json:"imageID"`
	Started      bool           `json:"started"`
	State        containerState `json:"state"`
}

type containerState struct {
	Running *struct {
		StartedAt string `json:"startedAt"`
	} `json:"running,omitempty"`
	Waiting *struct {
		Reason  string `json:"reason"`
		Message string `json:"message,omitempty"`
	} `json:"waiting,omitempty"`
}

type podList struct {
	Kind       string      `json:"kind"`
	APIVersion string      `json:"apiVersion"`
	Metadata   listMeta    `json:"metadata"`
	Items      []podObject `json:"items"`
}

// clusterPods places k3s's system pods on the oldest server.
func clusterPods(nodes []NodeRecord, disabled map[string]bool, rv string) []podObject {
	var host *NodeRecord
	for i := range nodes {
		n := &nodes[i]
		if n.Server && (host == nil || n.CreatedAt.Before(host.CreatedAt)) {
			host = n
		}
	}
	if host == nil {
		return nil
	}
	var pods []podObject
	for i, sp := range systemPods {
		if disabled[sp.component] {
			continue
		}
		p := podObject{Kind: "Pod", APIVersion: "v1"}
		suffix := strings.ReplaceAll(uid(sp.name, host.Name), "-", "")
		p.Metadata = objectMeta{
			// Deployment pods: name-<replicaset hash>-<pod hash>.
			Name:              fmt.Sprintf("%s-%s-%s", sp.name, suffix[:9], suffix[9:14]),
			Namespace:         "kube-system",
			UID:               uid("pod", sp.name, host.Name, kubeTime(host.CreatedAt)),
			ResourceVersion:   rv,
			CreationTimestamp: kubeTime(host.CreatedAt),
			Labels:            map[string]string{"k8s-app": sp.app},
		}
		p.Spec.NodeName = host.Name
		p.Spec.Containers = []podContainer{{Name: sp.name, Image: sp.image}}
		start := kubeTime(host.UpdatedAt)
		p.Status = podStatus{HostIP: host.InternalIP, StartTime: start}
		cs := containerStatus{Name: sp.name, Image: sp.image}
		if host.SandboxError == "" {
			p.Status.Phase = "Running"
			p.Status.PodIP = fmt.Sprintf("10.42.0.%d", i+2)
			cs.Ready, cs.Started = true, true
			cs.ImageID = "docker.io/" + sp.image
			cs.State.Running = &struct {
				StartedAt string `json:"startedAt"`
			}{StartedAt: start}
			p.Status.Conditions = []condition{{Type: "Ready", Status: "True", LastTransitionTime: start}}
		} else {
			p.Status.Phase = "Pending"
			cs.State.Waiting = &struct {
				Reason  string `json:"reason"`
				Message string `json:"message,omitempty"`
			}{Reason: "ContainerCreating"}
			p.Status.Conditions = []condition{
				{Type: "PodReadyToStartContainers", Status: "False", LastTransitionTime: start,
					Reason: "FailedCreatePodSandBox", Message: "Failed to create pod sandbox: " + host.SandboxError},
				{Type: "Ready", Status: "False", LastTransitionTime: start, Reason: "ContainersNotReady",
					Message: "containers with unready status: [" + sp.name + "]"},
			}
		}
		p.Status.ContainerStatuses = []containerStatus{cs}
		pods = append(pods, p)
	}
	return pods
}

func podTable(pods []podObject, now time.Time, rv, apiVersion string) table {
	t := table{Kind: "Table", APIVersion: apiVersion, Metadata: listMeta{ResourceVersion: rv},
		ColumnDefinitions: []tableColumn{
			{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."},
			{Name: "Ready", Type: "string", Description: "The aggregate readiness state of this pod for accepting traffic."},
			{Name: "Status", Type: "string", Description: "The aggregate status of the containers in this pod."},
			{Name: "Restarts", Type: "string", Description: "The number of times the containers in this pod have been restarted."},
			{Name: "Age", Type: "string", Description: "CreationTimestamp is a timestamp representing the server time when this object was created."},
			{Name: "IP", Type: "string", Description: "IP address allocated to the pod.", Priority: 1},
			{Name: "Node", Type: "string", Description: "Name of the node this pod runs on.", Priority: 1},
		}}
	t.Rows = []tableRow{}
	for _, p := range pods {
		ready, status := "1/1", "Running"
		if p.Status.Phase != "Running" {
			ready, status = "0/1", "ContainerCreating"
		}
		created, _ := time.Parse(time.RFC3339, p.Metadata.CreationTimestamp)
		ip := p.Status.PodIP
		if ip == "" {
			ip = "<none>"
		}
		t.Rows = append(t.Rows, tableRow{
			Cells:  []any{p.Metadata.Name, ready, status, "0", age(now.Sub(created)), ip, p.Spec.NodeName},
			Object: partialObjMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1", Metadata: p.Metadata},
		})
	}
	return t
}
