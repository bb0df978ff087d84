package backends

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/k3d/k3d/backends/internal/runtimepb"
)

// ProtocolVersion is the version of the wire protocol this k3d and the backends
// built with it speak. A backend speaking another version is refused at start.
const ProtocolVersion = 1

// pluginName is the one go-plugin service a backend program serves.
const pluginName = "runtime"

// The cookie only tells a backend that k3d started it (and not a user at a
// shell); it is not a secret.
const (
	cookieKey   = "K3D_BACKEND_MAGIC_COOKIE"
	cookieValue = "k3d-runtime-backend-6a1f4c2e"
)

// chunkSize bounds the data in one stream message: large enough that
// per-message costs vanish at hundreds of MB/s, small enough to keep memory
// flat and cancellation prompt.
const chunkSize = 512 << 10

// maxMessageSize leaves room over chunkSize for large lists (ListNodes of a
// big cluster) while still catching a runaway message.
const maxMessageSize = 64 << 20

// Flow-control windows well above the default 64 KiB let a stream keep the
// unix socket busy instead of waiting for window updates.
const (
	streamWindow = 8 << 20
	connWindow   = 16 << 20
)

func handshakeConfig(version int) plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  uint(version),
		MagicCookieKey:   cookieKey,
		MagicCookieValue: cookieValue,
	}
}

// runtimePlugin adapts the Runtime service to go-plugin: the server side
// registers impl, the client side hands back a *Client on the connection.
type runtimePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Runtime
}

func (p *runtimePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterRuntimeServer(s, &server{rt: p.impl})
	return nil
}

func (p *runtimePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return &Client{rpc: pb.NewRuntimeClient(conn)}, nil
}

func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts,
		grpc.MaxRecvMsgSize(maxMessageSize),
		grpc.MaxSendMsgSize(maxMessageSize),
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.ForceServerCodecV2(newCodec()),
	)
	return grpc.NewServer(opts...)
}

func dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMessageSize),
			grpc.MaxCallSendMsgSize(maxMessageSize),
		),
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(newCodec())),
	}
}
