package backends

import (
	"time"

	pb "github.com/k3d/k3d/backends/internal/runtimepb"
)

// The functions below translate between the contract's Go types and their wire
// form, one pair per type, so that a field added to one side is easy to find
// on the other.

// unixNano keeps Go's zero time distinguishable on the wire: it is sent as 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func infoToPB(i Info) *pb.RuntimeInfo {
	return &pb.RuntimeInfo{
		Name:                i.Name,
		Version:             i.Version,
		ApiVersion:          i.APIVersion,
		Endpoint:            i.Endpoint,
		Rootless:            i.Rootless,
		CgroupVersion:       int32(i.CgroupVersion),
		CgroupDriver:        i.CgroupDriver,
		Os:                  i.OS,
		Arch:                i.Arch,
		Kernel:              i.Kernel,
		FullPrivileges:      i.FullPrivileges,
		Notes:               i.Notes,
		MissingCapabilities: i.MissingCapabilities,
	}
}

func infoFromPB(p *pb.RuntimeInfo) Info {
	return Info{
		Name:                p.GetName(),
		Version:             p.GetVersion(),
		APIVersion:          p.GetApiVersion(),
		Endpoint:            p.GetEndpoint(),
		Rootless:            p.GetRootless(),
		CgroupVersion:       int(p.GetCgroupVersion()),
		CgroupDriver:        p.GetCgroupDriver(),
		OS:                  p.GetOs(),
		Arch:                p.GetArch(),
		Kernel:              p.GetKernel(),
		FullPrivileges:      p.GetFullPrivileges(),
		Notes:               p.GetNotes(),
		MissingCapabilities: p.GetMissingCapabilities(),
	}
}

func networkSpecToPB(s NetworkSpec) *pb.NetworkSpec {
	return &pb.NetworkSpec{Name: s.Name, Labels: s.Labels, Subnet: s.Subnet}
}

func networkSpecFromPB(p *pb.NetworkSpec) NetworkSpec {
	return NetworkSpec{Name: p.GetName(), Labels: p.GetLabels(), Subnet: p.GetSubnet()}
}

func networkToPB(n Network) *pb.Network {
	return &pb.Network{Name: n.Name, Id: n.ID, Labels: n.Labels, Subnet: n.Subnet, Gateway: n.Gateway}
}

func networkFromPB(p *pb.Network) Network {
	return Network{Name: p.GetName(), ID: p.GetId(), Labels: p.GetLabels(), Subnet: p.GetSubnet(), Gateway: p.GetGateway()}
}

func networksToPB(ns []Network) *pb.NetworkList {
	out := &pb.NetworkList{Networks: make([]*pb.Network, len(ns))}
	for i, n := range ns {
		out.Networks[i] = networkToPB(n)
	}
	return out
}

func networksFromPB(p *pb.NetworkList) []Network {
	out := make([]Network, len(p.GetNetworks()))
	for i, n := range p.GetNetworks() {
		out[i] = networkFromPB(n)
	}
	return out
}

func volumeSpecToPB(s VolumeSpec) *pb.VolumeSpec {
	return &pb.VolumeSpec{Name: s.Name, Labels: s.Labels}
}

func volumeSpecFromPB(p *pb.VolumeSpec) VolumeSpec {
	return VolumeSpec{Name: p.GetName(), Labels: p.GetLabels()}
}

func volumeToPB(v Volume) *pb.Volume {
	return &pb.Volume{Name: v.Name, Labels: v.Labels}
}

func volumeFromPB(p *pb.Volume) Volume {
	return Volume{Name: p.GetName(), Labels: p.GetLabels()}
}

func volumesToPB(vs []Volume) *pb.VolumeList {
	out := &pb.VolumeList{Volumes: make([]*pb.Volume, len(vs))}
	for i, v := range vs {
		out.Volumes[i] = volumeToPB(v)
	}
	return out
}

func volumesFromPB(p *pb.VolumeList) []Volume {
	out := make([]Volume, len(p.GetVolumes()))
	for i, v := range p.GetVolumes() {
		out[i] = volumeFromPB(v)
	}
	return out
}

// stringListToPB keeps nil (keep the image's) apart from empty (none).
func stringListToPB(s []string) *pb.StringList {
	if s == nil {
		return nil
	}
	return &pb.StringList{Values: s}
}

func stringListFromPB(p *pb.StringList) []string {
	if p == nil {
		return nil
	}
	if p.Values == nil {
		return []string{}
	}
	return p.Values
}

func portsToPB(ps []PortMapping) []*pb.PortMapping {
	if ps == nil {
		return nil
	}
	out := make([]*pb.PortMapping, len(ps))
	for i, p := range ps {
		out[i] = &pb.PortMapping{HostIp: p.HostIP, HostPort: uint32(p.HostPort), ContainerPort: uint32(p.ContainerPort), Protocol: p.Protocol}
	}
	return out
}

func portsFromPB(ps []*pb.PortMapping) []PortMapping {
	if ps == nil {
		return nil
	}
	out := make([]PortMapping, len(ps))
	for i, p := range ps {
		out[i] = PortMapping{HostIP: p.GetHostIp(), HostPort: uint16(p.GetHostPort()), ContainerPort: uint16(p.GetContainerPort()), Protocol: p.GetProtocol()}
	}
	return out
}

func mountsToPB(ms []Mount) []*pb.Mount {
	if ms == nil {
		return nil
	}
	out := make([]*pb.Mount, len(ms))
	for i, m := range ms {
		out[i] = &pb.Mount{Type: string(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, TmpfsSize: m.TmpfsSize}
	}
	return out
}

func mountsFromPB(ms []*pb.Mount) []Mount {
	if ms == nil {
		return nil
	}
	out := make([]Mount, len(ms))
	for i, m := range ms {
		out[i] = Mount{Type: MountType(m.GetType()), Source: m.GetSource(), Target: m.GetTarget(), ReadOnly: m.GetReadOnly(), TmpfsSize: m.GetTmpfsSize()}
	}
	return out
}

func nodeSpecToPB(s NodeSpec) *pb.NodeSpec {
	p := &pb.NodeSpec{
		Name:          s.Name,
		Hostname:      s.Hostname,
		Image:         s.Image,
		Entrypoint:    stringListToPB(s.Entrypoint),
		Cmd:           stringListToPB(s.Cmd),
		Env:           s.Env,
		Labels:        s.Labels,
		Ports:         portsToPB(s.Ports),
		Mounts:        mountsToPB(s.Mounts),
		Privileged:    s.Privileged,
		RestartPolicy: string(s.RestartPolicy),
		MemoryLimit:   s.MemoryLimit,
		User:          s.User,
		Ulimits:       ulimitsToPB(s.Ulimits),
		HostPid:       s.HostPID,
		Gpus:          s.GPUs,
	}
	for _, n := range s.Networks {
		p.Networks = append(p.Networks, &pb.NetworkAttachment{Network: n.Network, Aliases: n.Aliases, Ipv4: n.IPv4})
	}
	for _, h := range s.ExtraHosts {
		p.ExtraHosts = append(p.ExtraHosts, &pb.HostEntry{Hostname: h.Hostname, Ip: h.IP})
	}
	return p
}

func nodeSpecFromPB(p *pb.NodeSpec) NodeSpec {
	s := NodeSpec{
		Name:          p.GetName(),
		Hostname:      p.GetHostname(),
		Image:         p.GetImage(),
		Entrypoint:    stringListFromPB(p.GetEntrypoint()),
		Cmd:           stringListFromPB(p.GetCmd()),
		Env:           p.GetEnv(),
		Labels:        p.GetLabels(),
		Ports:         portsFromPB(p.GetPorts()),
		Mounts:        mountsFromPB(p.GetMounts()),
		Privileged:    p.GetPrivileged(),
		RestartPolicy: RestartPolicy(p.GetRestartPolicy()),
		MemoryLimit:   p.GetMemoryLimit(),
		User:          p.GetUser(),
		Ulimits:       ulimitsFromPB(p.GetUlimits()),
		HostPID:       p.GetHostPid(),
		GPUs:          p.GetGpus(),
	}
	for _, n := range p.GetNetworks() {
		s.Networks = append(s.Networks, NetworkAttachment{Network: n.GetNetwork(), Aliases: n.GetAliases(), IPv4: n.GetIpv4()})
	}
	for _, h := range p.GetExtraHosts() {
		s.ExtraHosts = append(s.ExtraHosts, HostEntry{Hostname: h.GetHostname(), IP: h.GetIp()})
	}
	return s
}

func nodeToPB(n Node) *pb.Node {
	p := &pb.Node{
		Name:     n.Name,
		Id:       n.ID,
		Hostname: n.Hostname,
		Image:    n.Image,
		Labels:   n.Labels,
		Env:      n.Env,
		Cmd:      n.Cmd,
		State: &pb.NodeState{
			Status:       string(n.State.Status),
			Running:      n.State.Running,
			ExitCode:     int64(n.State.ExitCode),
			StartedAt:    unixNano(n.State.StartedAt),
			FinishedAt:   unixNano(n.State.FinishedAt),
			RestartCount: int64(n.State.RestartCount),
		},
		Ports:         portsToPB(n.Ports),
		Mounts:        mountsToPB(n.Mounts),
		Privileged:    n.Privileged,
		RestartPolicy: string(n.RestartPolicy),
		MemoryLimit:   n.MemoryLimit,
		Ulimits:       ulimitsToPB(n.Ulimits),
		HostPid:       n.HostPID,
		Gpus:          n.GPUs,
		Created:       unixNano(n.Created),
	}
	for _, nn := range n.Networks {
		p.Networks = append(p.Networks, &pb.NodeNetwork{Network: nn.Network, Ipv4: nn.IPv4, Aliases: nn.Aliases})
	}
	return p
}

func nodeFromPB(p *pb.Node) Node {
	st := p.GetState()
	n := Node{
		Name:     p.GetName(),
		ID:       p.GetId(),
		Hostname: p.GetHostname(),
		Image:    p.GetImage(),
		Labels:   p.GetLabels(),
		Env:      p.GetEnv(),
		Cmd:      p.GetCmd(),
		State: NodeState{
			Status:       NodeStatus(st.GetStatus()),
			Running:      st.GetRunning(),
			ExitCode:     int(st.GetExitCode()),
			StartedAt:    fromUnixNano(st.GetStartedAt()),
			FinishedAt:   fromUnixNano(st.GetFinishedAt()),
			RestartCount: int(st.GetRestartCount()),
		},
		Ports:         portsFromPB(p.GetPorts()),
		Mounts:        mountsFromPB(p.GetMounts()),
		Privileged:    p.GetPrivileged(),
		RestartPolicy: RestartPolicy(p.GetRestartPolicy()),
		MemoryLimit:   p.GetMemoryLimit(),
		Ulimits:       ulimitsFromPB(p.GetUlimits()),
		HostPID:       p.GetHostPid(),
		GPUs:          p.GetGpus(),
		Created:       fromUnixNano(p.GetCreated()),
	}
	for _, nn := range p.GetNetworks() {
		n.Networks = append(n.Networks, NodeNetwork{Network: nn.GetNetwork(), IPv4: nn.GetIpv4(), Aliases: nn.GetAliases()})
	}
	return n
}

func ulimitsToPB(us []Ulimit) []*pb.Ulimit {
	var out []*pb.Ulimit
	for _, u := range us {
		out = append(out, &pb.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	return out
}

func ulimitsFromPB(ps []*pb.Ulimit) []Ulimit {
	var out []Ulimit
	for _, u := range ps {
		out = append(out, Ulimit{Name: u.GetName(), Soft: u.GetSoft(), Hard: u.GetHard()})
	}
	return out
}

func nodesToPB(ns []Node) *pb.NodeList {
	out := &pb.NodeList{Nodes: make([]*pb.Node, len(ns))}
	for i, n := range ns {
		out.Nodes[i] = nodeToPB(n)
	}
	return out
}

func nodesFromPB(p *pb.NodeList) []Node {
	out := make([]Node, len(p.GetNodes()))
	for i, n := range p.GetNodes() {
		out[i] = nodeFromPB(n)
	}
	return out
}

func imageToPB(i Image) *pb.Image {
	return &pb.Image{Id: i.ID, Refs: i.Refs, Size: i.Size}
}

func imageFromPB(p *pb.Image) Image {
	return Image{ID: p.GetId(), Refs: p.GetRefs(), Size: p.GetSize()}
}

func pullProgressToPB(p PullProgress) *pb.PullProgress {
	return &pb.PullProgress{Done: p.Done, Total: p.Total, Status: p.Status}
}

func pullProgressFromPB(p *pb.PullProgress) PullProgress {
	return PullProgress{Done: p.GetDone(), Total: p.GetTotal(), Status: p.GetStatus()}
}
