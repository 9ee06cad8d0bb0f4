package bench

import (
	"context"
	"fmt"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
)

// rawCodec passes *[]byte through untouched, so gRPC carries the same bytes
// as the other systems instead of protobuf messages.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	p, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
	}
	return *p, nil
}

// Unmarshal keeps data: gRPC hands a V1 codec a slice of its own.
func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	*p = data
	return nil
}

func (rawCodec) Name() string { return "raw" }

func init() { encoding.RegisterCodec(rawCodec{}) }

// maxMsg lets the 16 MiB echo through (gRPC's default receive limit is 4 MiB).
const maxMsg = 64 * mib

var grpcDesc = grpc.ServiceDesc{
	ServiceName: "bench.Arith",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Add", Handler: grpcAdd},
		{MethodName: "Echo", Handler: grpcEcho},
	},
}

func grpcAdd(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	a, err := decodeArgs(in)
	if err != nil {
		return nil, err
	}
	out := encodeInt(a.A + a.B)
	return &out, nil
}

func grpcEcho(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	return &in, nil
}

type grpcClient struct{ cc *grpc.ClientConn }

func (c grpcClient) Add(ctx context.Context, a Args) (int, error) {
	in, out := encodeArgs(a), []byte(nil)
	if err := c.cc.Invoke(ctx, "/bench.Arith/Add", &in, &out); err != nil {
		return 0, err
	}
	return decodeInt(out)
}

func (c grpcClient) Echo(ctx context.Context, p []byte) ([]byte, error) {
	var out []byte
	err := c.cc.Invoke(ctx, "/bench.Arith/Echo", &p, &out)
	return out, err
}

// startGRPC: one gRPC ClientConn (one HTTP/2 connection), default window
// settings, raw-bytes codec.
func startGRPC(tb testing.TB, ln net.Listener) client {
	tb.Helper()
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(maxMsg))
	srv.RegisterService(&grpcDesc, struct{}{})
	go srv.Serve(ln)
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.CallContentSubtype(rawCodec{}.Name()),
			grpc.MaxCallRecvMsgSize(maxMsg),
			grpc.MaxCallSendMsgSize(maxMsg),
		))
	if err != nil {
		srv.Stop()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close(); srv.Stop() })
	return grpcClient{cc}
}
