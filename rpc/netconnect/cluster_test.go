package netconnect

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc/cluster"
)

// netServer returns the cluster server "net" of a config giving it a free
// netport, and that port's loopback address.
func netServer(t *testing.T) (*cluster.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg, err := cluster.ParseConfig(fmt.Appendf(nil, `{
  "master": {"rootport": 1},
  "servers": {
    "gate": {"rootport": 2},
    "net": {"netport": %d, "remoteport": [{"rootname": "gate"}]}
  }}`, port))
	if err != nil {
		t.Fatal(err)
	}
	s, err := cluster.NewServer(cfg, "net", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, fmt.Sprint("127.0.0.1:", port)
}

// TestClusterApp: the front-end runs on the netport with no code of the
// app's own, forwarding to the gate (which is not up here, so a forwarded
// packet gets no reply) and mapping the push commands on the gate link.
func TestClusterApp(t *testing.T) {
	s, addr := netServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ClusterApp(nil)(ctx, s); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{PushDataCommand, BroadcastDataCommand, CloseSessionCommand} {
		if s.NodeService("gate").Target(cmd) == nil {
			t.Errorf("%s is not mapped on the gate link", cmd)
		}
	}
	c := dial(t, addr)
	// The front-end answers the broadcast its gate would send.
	var n int
	testutil.Eventually(t, "the session", func() bool {
		s.NodeService("gate").CallTarget(ctx, BroadcastDataCommand, &n, uint32(2001), []byte("hi"))
		return n == 1
	})
	if p, err := c.Recv(testutil.Context(t)); err != nil || p.Command != 2001 || string(p.Body) != "hi" {
		t.Fatalf("%+v %v", p, err)
	}
}

// TestClusterAppStartsOnce: an app that starts the front-end itself (to
// map its own handlers) gets no second one.
func TestClusterAppStartsOnce(t *testing.T) {
	s, addr := netServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app := func(ctx context.Context, s *cluster.Server) error {
		srv, err := StartFrontend(ctx, s)
		if err != nil {
			return err
		}
		srv.Service().Handle(1, func(ctx context.Context, sess *Session, cmd uint32, body []byte) ([]byte, error) {
			return []byte("mine"), nil
		})
		return nil
	}
	if err := ClusterApp(app)(ctx, s); err != nil {
		t.Fatalf("ClusterApp started a second front-end: %v", err)
	}
	c := dial(t, addr)
	if got, err := c.Request(testutil.Context(t), 1, nil); err != nil || string(got) != "mine" {
		t.Fatalf("%q %v", got, err)
	}
}
