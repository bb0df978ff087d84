// Package backends holds the Runtime contract that the engine speaks and every
// backend program implements, its typed errors, and the wire protocol between them.
package backends

import (
	"context"
	"io"
	"time"
)

// Runtime is everything k3d needs from a container runtime. A backend translates
// k3d's objects into its runtime's own: a cluster is a set of nodes on one network
// sharing volumes; a node is a container.
//
// Rules every method follows:
//   - Objects are addressed by name, never by runtime-specific ID, so that any k3d
//     process can find them again from the runtime alone.
//   - Errors are the typed errors in errors.go (test them with IsNotFound,
//     IsAlreadyExists, IsUnreachable, IsInUse, IsNotRunning, IsInvalid), wrapped
//     with what was being done to what.
//   - Labels given at creation are stored verbatim and returned verbatim by
//     Inspect and List; a backend may add its own labels only under the
//     "k3d.runtime." prefix, and returns those too.
//   - Label selectors (map arguments named selector) match objects that carry
//     every given key with exactly the given value; an empty value matches any
//     value of that key; a nil or empty selector matches every object of that
//     kind that the backend can see.
//   - A cancelled context stops the work and returns ctx.Err() (wrapped).
type Runtime interface {
	// Info describes the runtime and the host it runs containers on. It is
	// cheap to call repeatedly: backends cache it for the life of the process.
	Info(ctx context.Context) (Info, error)

	// CreateNetwork creates a bridge network that gives its members name
	// resolution by node name and alias. An existing network of the same name
	// gives ErrAlreadyExists (the existing network is left untouched).
	CreateNetwork(ctx context.Context, spec NetworkSpec) (Network, error)
	// InspectNetwork returns ErrNotFound for a missing network.
	InspectNetwork(ctx context.Context, name string) (Network, error)
	// ListNetworks returns the networks matching selector, in no given order.
	ListNetworks(ctx context.Context, selector map[string]string) ([]Network, error)
	// DeleteNetwork removes a network. A missing network gives ErrNotFound; a
	// network that still has nodes attached gives ErrInUse and is kept.
	DeleteNetwork(ctx context.Context, name string) error
	// ConnectNetwork attaches an existing node to a network under the given
	// aliases (its name always resolves too). Connecting a node that is already
	// attached gives ErrAlreadyExists.
	ConnectNetwork(ctx context.Context, network, node string, aliases []string) error
	// DisconnectNetwork detaches a node. A node that is not attached, or a
	// missing node or network, gives ErrNotFound.
	DisconnectNetwork(ctx context.Context, network, node string) error

	// CreateVolume creates a named volume whose files keep their modes
	// (executables stay executable). An existing name gives ErrAlreadyExists.
	CreateVolume(ctx context.Context, spec VolumeSpec) (Volume, error)
	// InspectVolume returns ErrNotFound for a missing volume.
	InspectVolume(ctx context.Context, name string) (Volume, error)
	// ListVolumes returns the volumes matching selector.
	ListVolumes(ctx context.Context, selector map[string]string) ([]Volume, error)
	// DeleteVolume removes a volume and its data. A missing volume gives
	// ErrNotFound; a volume mounted by a node gives ErrInUse and is kept.
	DeleteVolume(ctx context.Context, name string) error

	// CreateNode creates a node (container) from spec without starting it.
	// The image must already be present: backends never pull (missing image:
	// ErrNotFound naming the image). Named volumes in spec.Mounts that do not
	// exist yet are created. A name clash gives ErrAlreadyExists and leaves the
	// existing node untouched; any other failure leaves nothing behind.
	CreateNode(ctx context.Context, spec NodeSpec) (Node, error)
	// StartNode starts a created or stopped node. Starting a running node is
	// not an error.
	StartNode(ctx context.Context, name string) error
	// StopNode asks the node's main process to stop (SIGTERM), and kills it
	// after timeout. Stopping a node that is not running is not an error. A
	// stopped node is not restarted by its restart policy until started again.
	StopNode(ctx context.Context, name string, timeout time.Duration) error
	// KillNode sends signal (a name such as "SIGKILL", or "" for SIGKILL) to
	// the node's main process. A node that is not running gives ErrNotRunning.
	// Like StopNode, a node killed this way is not restarted by its restart
	// policy (Docker and Podman both suspend the policy on kill); a signal the
	// process handles (SIGHUP to reload) leaves it running.
	KillNode(ctx context.Context, name string, signal string) error
	// DeleteNode removes a node, running or not, with its anonymous volumes;
	// named volumes are kept. A missing node gives ErrNotFound.
	DeleteNode(ctx context.Context, name string) error
	// InspectNode returns ErrNotFound for a missing node.
	InspectNode(ctx context.Context, name string) (Node, error)
	// ListNodes returns the nodes matching selector, running or not.
	ListNodes(ctx context.Context, selector map[string]string) ([]Node, error)

	// Exec runs a command in a running node and returns its exit code. Stdin
	// (if set) is copied to the command until EOF, after which the command's
	// stdin is closed; stdout and stderr are kept apart. A non-zero exit code
	// is not an error. A node that is not running gives ErrNotRunning; a
	// command that cannot be started gives ErrInvalid.
	Exec(ctx context.Context, node string, spec ExecSpec) (exitCode int, err error)
	// Logs returns the node's output (stdout and stderr interleaved in the
	// order written). With Follow, the stream stays open for new output until
	// ctx is cancelled, the caller closes it, or the node stops.
	Logs(ctx context.Context, node string, opts LogOptions) (io.ReadCloser, error)
	// CopyToNode extracts a tar stream into dir inside the node (running or
	// not); dir must exist. File modes and ownership in the tar are kept.
	CopyToNode(ctx context.Context, node, dir string, tarStream io.Reader) error
	// ReadFile returns the contents of one regular file in the node (running
	// or not), with no archive framing. A missing file gives ErrNotFound.
	ReadFile(ctx context.Context, node, path string) (io.ReadCloser, error)

	// ImageExists reports whether ref is present in the runtime. Nothing is pulled.
	ImageExists(ctx context.Context, ref string) (bool, error)
	// ImageLoad loads a docker-archive or OCI-layout tar stream and returns the
	// references it named. Loading an image that is present replaces its tags.
	ImageLoad(ctx context.Context, tarStream io.Reader) ([]string, error)
	// ImageSave writes the given present images as one docker-archive tar
	// stream. A missing image gives ErrNotFound naming it.
	ImageSave(ctx context.Context, refs []string) (io.ReadCloser, error)
	// ImageTag gives the present image source the extra reference target
	// (replacing any image that had target). Missing source: ErrNotFound.
	ImageTag(ctx context.Context, source, target string) error
	// ImageInspect describes a present image. A missing image gives
	// ErrNotFound naming it. Nothing is pulled.
	ImageInspect(ctx context.Context, ref string) (Image, error)
	// ImagePull fetches ref from its registry into the runtime, reporting
	// bytes as they arrive to opts.Progress. A registry on a loopback address
	// is spoken to over plain HTTP, as Docker does. A registry that cannot be
	// reached gives an *UnreachableError whose Runtime is "the registry of
	// image REF" and Endpoint the registry's host; a reference the registry
	// does not know gives ErrNotFound naming the image.
	ImagePull(ctx context.Context, ref string, opts PullOptions) error
}

// Image is a present image as the runtime reports it.
type Image struct {
	// ID is the digest of the image's config ("sha256:..."): the same for one
	// image in every runtime and in the nodes' containerd, so that it tells
	// whether a node already holds the image a reference names now.
	ID string
	// Refs are the references naming the image in the runtime.
	Refs []string
	// Size is the image's size in bytes as the runtime counts it.
	Size int64
}

// PullOptions tune ImagePull.
type PullOptions struct {
	// Progress, if set, is called as the pull advances (from one goroutine at
	// a time); it must return quickly.
	Progress func(PullProgress)
}

// PullProgress is how far a pull is.
type PullProgress struct {
	// Done and Total are bytes over all layers; Total is 0 while unknown.
	Done, Total int64
	// Status is the runtime's word for the current phase ("Downloading").
	Status string
}

// Info describes a runtime and its host.
type Info struct {
	// Name is the backend name as typed after --runtime ("docker").
	Name string `json:"name"`
	// Version is the runtime daemon's version; APIVersion the API in use.
	Version    string `json:"version"`
	APIVersion string `json:"apiVersion"`
	// Endpoint is the address the backend talks to (unix:///var/run/docker.sock).
	Endpoint string `json:"endpoint"`
	// Rootless is true when containers run in a user namespace owned by an
	// unprivileged user.
	Rootless bool `json:"rootless"`
	// CgroupVersion is 1 or 2 (0 when the runtime does not say).
	CgroupVersion int    `json:"cgroupVersion"`
	CgroupDriver  string `json:"cgroupDriver"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	Kernel        string `json:"kernel"`
	// FullPrivileges is false when privileged nodes get the backend's fallback
	// (every capability the host can grant, unconfined seccomp/AppArmor, all
	// devices, a writable cgroup tree) instead of the runtime's own privileged
	// mode, because the host cannot grant every capability.
	FullPrivileges bool `json:"fullPrivileges"`
	// MissingCapabilities names the capabilities (CAP_SYS_RESOURCE, ...)
	// privileged nodes cannot get on this host; empty when they get all, or
	// when the backend cannot tell (then FullPrivileges says which).
	MissingCapabilities []string `json:"missingCapabilities,omitempty"`
	// Notes are facts a user should know about this runtime (one line each).
	Notes []string `json:"notes,omitempty"`
}

// NetworkSpec describes a network to create.
type NetworkSpec struct {
	Name   string
	Labels map[string]string
	// Subnet in CIDR notation; empty lets the runtime choose.
	Subnet string
}

// Network is a network as the runtime reports it.
type Network struct {
	Name    string
	ID      string
	Labels  map[string]string
	Subnet  string
	Gateway string
}

// VolumeSpec describes a named volume to create.
type VolumeSpec struct {
	Name   string
	Labels map[string]string
}

// Volume is a named volume as the runtime reports it.
type Volume struct {
	Name   string
	Labels map[string]string
}

// NodeSpec describes a node to create.
type NodeSpec struct {
	Name     string
	Hostname string // defaults to Name
	Image    string
	// Entrypoint and Cmd override the image's; nil keeps the image's.
	Entrypoint []string
	Cmd        []string
	Env        []string // KEY=VALUE
	Labels     map[string]string
	Ports      []PortMapping
	Mounts     []Mount
	// Networks the node is attached to at creation, first one primary.
	Networks []NetworkAttachment
	// Privileged asks for everything a k3s node needs from the host (see
	// Info.FullPrivileges for hosts that cannot grant it all).
	Privileged    bool
	RestartPolicy RestartPolicy
	// MemoryLimit in bytes; 0 means none. A runtime that cannot enforce it
	// (rootless on cgroup v1) refuses the node with ErrInvalid: a limit is
	// never silently dropped. The node's /proc/meminfo reports the limit as
	// MemTotal (see Meminfo), so that a kubelet inside sees it as the
	// machine's memory.
	MemoryLimit int64
	// ExtraHosts are added to the node's /etc/hosts.
	ExtraHosts []HostEntry
	// User to run as ("uid[:gid]" or a name); empty keeps the image's.
	User string
	// Ulimits replace the node's inherited resource limits, by the names
	// `docker run --ulimit` takes (nofile, nproc, memlock, ...).
	Ulimits []Ulimit
	// HostPID puts the node in the host's PID namespace.
	HostPID bool
	// GPUs asks for the host's GPUs: "all" or a count, empty for none. A
	// host with no GPU runtime (Docker's NVIDIA device driver, a CDI spec
	// for nvidia.com/gpu) refuses the node with ErrPrerequisite naming what
	// is missing: a GPU request is never silently dropped.
	GPUs string
}

// Ulimit is one resource limit; Soft must not exceed Hard.
type Ulimit struct {
	Name string
	Soft int64
	Hard int64
}

// PortMapping publishes a node's port on the host.
type PortMapping struct {
	// HostIP to bind; empty means all addresses.
	HostIP string
	// HostPort 0 lets the runtime pick a free port (reported by InspectNode).
	HostPort      uint16
	ContainerPort uint16
	// Protocol is "tcp" (default) or "udp".
	Protocol string
}

// MountType says what a Mount's Source is.
type MountType string

const (
	MountVolume MountType = "volume" // Source is a named volume
	MountBind   MountType = "bind"   // Source is a host path
	MountTmpfs  MountType = "tmpfs"  // Source is ignored
)

// Mount is a filesystem mounted into a node.
type Mount struct {
	Type     MountType
	Source   string
	Target   string
	ReadOnly bool
	// TmpfsSize in bytes for tmpfs mounts; 0 means the runtime's default.
	TmpfsSize int64
}

// NetworkAttachment attaches a node to a network.
type NetworkAttachment struct {
	Network string
	Aliases []string
	// IPv4 is a static address in the network's subnet; empty picks one.
	IPv4 string
}

// RestartPolicy says when the runtime restarts a node whose main process ended.
type RestartPolicy string

const (
	RestartNo            RestartPolicy = "no" // default
	RestartAlways        RestartPolicy = "always"
	RestartUnlessStopped RestartPolicy = "unless-stopped"
	RestartOnFailure     RestartPolicy = "on-failure"
)

// HostEntry is one extra /etc/hosts line.
type HostEntry struct {
	Hostname string
	IP       string
}

// NodeStatus is a node's lifecycle state in runtime-neutral words.
type NodeStatus string

const (
	StatusCreated    NodeStatus = "created"
	StatusRunning    NodeStatus = "running"
	StatusRestarting NodeStatus = "restarting"
	StatusPaused     NodeStatus = "paused"
	StatusExited     NodeStatus = "exited"
	StatusUnknown    NodeStatus = "unknown"
)

// NodeState is what a node is doing.
type NodeState struct {
	Status     NodeStatus
	Running    bool
	ExitCode   int
	StartedAt  time.Time
	FinishedAt time.Time
	// RestartCount counts restarts done by the restart policy.
	RestartCount int
}

// Node is a node as the runtime reports it.
type Node struct {
	Name     string
	ID       string
	Hostname string
	Image    string
	Labels   map[string]string
	Env      []string
	// Cmd is the full command line the node runs (entrypoint then args).
	Cmd   []string
	State NodeState
	// Networks the node is attached to, with its address on each.
	Networks []NodeNetwork
	// Ports as published: a random HostPort is reported as the port chosen.
	Ports         []PortMapping
	Mounts        []Mount
	Privileged    bool
	RestartPolicy RestartPolicy
	MemoryLimit   int64
	Ulimits       []Ulimit
	HostPID       bool
	GPUs          string
	Created       time.Time
}

// NodeNetwork is a node's attachment to one network.
type NodeNetwork struct {
	Network string
	IPv4    string
	Aliases []string
}

// ExecSpec is a command to run in a node.
type ExecSpec struct {
	Cmd     []string
	Env     []string
	WorkDir string
	User    string
	// Stdin, if set, is copied to the command; nil gives it an empty stdin.
	Stdin io.Reader
	// Stdout and Stderr receive the command's output; nil discards it.
	Stdout io.Writer
	Stderr io.Writer
}

// LogOptions select a node's output.
type LogOptions struct {
	// Since, if set, skips output written before it.
	Since time.Time
	// Follow keeps the stream open for new output.
	Follow bool
	// Tail, if positive, starts at the last Tail lines.
	Tail int
}
