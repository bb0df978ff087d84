package backends

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	pb "github.com/k3d/k3d/backends/internal/runtimepb"
)

// servedProtocol is empty in every real build. Tests link a backend with
// -ldflags "-X github.com/k3d/k3d/backends.servedProtocol=2" to play a backend
// of another protocol version; it is never written at run time.
var servedProtocol string

// parentPollInterval is how often a backend checks that k3d is still there.
// It matters only where the kernel's death signal is unavailable.
const parentPollInterval = 500 * time.Millisecond

// Serve runs rt as a backend program: a backend's main calls it and returns
// when it does (k3d closed the connection). Run by hand, outside k3d, it says
// what the program is and exits with status 1.
func Serve(rt Runtime) {
	if os.Getenv(cookieKey) != cookieValue {
		exe := filepath.Base(os.Args[0])
		name := strings.TrimPrefix(exe, "k3d-runtime-")
		fmt.Fprintf(os.Stderr, "%s is a k3d backend: k3d starts it when it needs the %s runtime (k3d --runtime %s ...); there is no need to run it by hand\n", exe, name, name)
		os.Exit(1)
	}
	version := ProtocolVersion
	if servedProtocol != "" {
		if v, err := strconv.Atoi(servedProtocol); err == nil {
			version = v
		}
	}
	go exitWithParent(os.Getppid())
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshakeConfig(version),
		Plugins:         plugin.PluginSet{pluginName: &runtimePlugin{impl: rt}},
		GRPCServer:      newGRPCServer,
		// Warnings only, as JSON on the real stderr: k3d parses them into its
		// debug log; go-plugin's default would trace every connection.
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       "backend",
			Level:      hclog.Warn,
			Output:     os.Stderr,
			JSONFormat: true,
		}),
	})
}

// exitWithParent ends the backend when the k3d that started it is gone (it was
// reparented), so that a backend never outlives its command, whatever killed k3d.
func exitWithParent(ppid int) {
	t := time.NewTicker(parentPollInterval)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != ppid {
			os.Exit(1)
		}
	}
}

// server answers the Runtime service by calling a Runtime.
type server struct {
	pb.UnimplementedRuntimeServer
	rt Runtime
}

func (s *server) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.RuntimeInfo, error) {
	i, err := s.rt.Info(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return infoToPB(i), nil
}

func (s *server) CreateNetwork(ctx context.Context, r *pb.NetworkSpec) (*pb.Network, error) {
	n, err := s.rt.CreateNetwork(ctx, networkSpecFromPB(r))
	if err != nil {
		return nil, toStatus(err)
	}
	return networkToPB(n), nil
}

func (s *server) InspectNetwork(ctx context.Context, r *pb.NameRequest) (*pb.Network, error) {
	n, err := s.rt.InspectNetwork(ctx, r.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return networkToPB(n), nil
}

func (s *server) ListNetworks(ctx context.Context, r *pb.Selector) (*pb.NetworkList, error) {
	ns, err := s.rt.ListNetworks(ctx, r.GetLabels())
	if err != nil {
		return nil, toStatus(err)
	}
	return networksToPB(ns), nil
}

func (s *server) DeleteNetwork(ctx context.Context, r *pb.NameRequest) (*pb.Empty, error) {
	return empty(s.rt.DeleteNetwork(ctx, r.GetName()))
}

func (s *server) ConnectNetwork(ctx context.Context, r *pb.ConnectNetworkRequest) (*pb.Empty, error) {
	return empty(s.rt.ConnectNetwork(ctx, r.GetNetwork(), r.GetNode(), r.GetAliases()))
}

func (s *server) DisconnectNetwork(ctx context.Context, r *pb.DisconnectNetworkRequest) (*pb.Empty, error) {
	return empty(s.rt.DisconnectNetwork(ctx, r.GetNetwork(), r.GetNode()))
}

func (s *server) CreateVolume(ctx context.Context, r *pb.VolumeSpec) (*pb.Volume, error) {
	v, err := s.rt.CreateVolume(ctx, volumeSpecFromPB(r))
	if err != nil {
		return nil, toStatus(err)
	}
	return volumeToPB(v), nil
}

func (s *server) InspectVolume(ctx context.Context, r *pb.NameRequest) (*pb.Volume, error) {
	v, err := s.rt.InspectVolume(ctx, r.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return volumeToPB(v), nil
}

func (s *server) ListVolumes(ctx context.Context, r *pb.Selector) (*pb.VolumeList, error) {
	vs, err := s.rt.ListVolumes(ctx, r.GetLabels())
	if err != nil {
		return nil, toStatus(err)
	}
	return volumesToPB(vs), nil
}

func (s *server) DeleteVolume(ctx context.Context, r *pb.NameRequest) (*pb.Empty, error) {
	return empty(s.rt.DeleteVolume(ctx, r.GetName()))
}

func (s *server) CreateNode(ctx context.Context, r *pb.NodeSpec) (*pb.Node, error) {
	n, err := s.rt.CreateNode(ctx, nodeSpecFromPB(r))
	if err != nil {
		return nil, toStatus(err)
	}
	return nodeToPB(n), nil
}

func (s *server) StartNode(ctx context.Context, r *pb.NameRequest) (*pb.Empty, error) {
	return empty(s.rt.StartNode(ctx, r.GetName()))
}

func (s *server) StopNode(ctx context.Context, r *pb.StopNodeRequest) (*pb.Empty, error) {
	return empty(s.rt.StopNode(ctx, r.GetName(), time.Duration(r.GetTimeoutNanos())))
}

func (s *server) KillNode(ctx context.Context, r *pb.KillNodeRequest) (*pb.Empty, error) {
	return empty(s.rt.KillNode(ctx, r.GetName(), r.GetSignal()))
}

func (s *server) DeleteNode(ctx context.Context, r *pb.NameRequest) (*pb.Empty, error) {
	return empty(s.rt.DeleteNode(ctx, r.GetName()))
}

func (s *server) InspectNode(ctx context.Context, r *pb.NameRequest) (*pb.Node, error) {
	n, err := s.rt.InspectNode(ctx, r.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return nodeToPB(n), nil
}

func (s *server) ListNodes(ctx context.Context, r *pb.Selector) (*pb.NodeList, error) {
	ns, err := s.rt.ListNodes(ctx, r.GetLabels())
	if err != nil {
		return nil, toStatus(err)
	}
	return nodesToPB(ns), nil
}

func (s *server) ImageExists(ctx context.Context, r *pb.ImageRef) (*pb.ImageExistsReply, error) {
	ok, err := s.rt.ImageExists(ctx, r.GetRef())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ImageExistsReply{Exists: ok}, nil
}

func (s *server) ImageTag(ctx context.Context, r *pb.ImageTagRequest) (*pb.Empty, error) {
	return empty(s.rt.ImageTag(ctx, r.GetSource(), r.GetTarget()))
}

func empty(err error) (*pb.Empty, error) {
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.Empty{}, nil
}
