package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// namedConfig writes a cluster config (gate; net, game1 and game2 joining
// it) with the given security section into dir and loads it.
func namedConfig(t *testing.T, dir, security string) *Config {
	t.Helper()
	p := testutil.FreePorts(t, 3)
	path := filepath.Join(dir, "config.json")
	err := os.WriteFile(path, fmt.Appendf(nil, `{
		"master": {"roothost": "127.0.0.1", "rootport": %d, "webport": %d},
		"servers": {
			"gate": {"rootport": %d},
			"net": {"remoteport": [{"rootname": "gate"}]},
			"game1": {"remoteport": [{"rootname": "gate"}]},
			"game2": {"remoteport": [{"rootname": "gate"}]}
		},
		"security": %s}`, p[0], p[1], p[2], security), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// gateAddr is gate's root address in cfg.
func gateAddr(cfg *Config) string {
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(cfg.Servers["gate"].RootPort))
}

// TestClusterNamesProved: with a secret per server, a server holding its
// own secret (net) cannot join the master or gate as another (game2,
// game1), servers join under their own names, and a process holding only
// gate's secret cannot pose as the master to game1.
func TestClusterNamesProved(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"master", "gate", "net", "game1", "game2"} {
		if err := os.WriteFile(filepath.Join(dir, name+".secret"), []byte("secret of "+name+" 0123456789abcdef"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := namedConfig(t, dir, `{"secret_file": "{name}.secret"}`)
	startMaster(t, cfg)
	game := func(ctx context.Context, s *Server) error {
		return s.NodeService("gate").Map("who", func() string { return s.Name() })
	}
	gate, _ := startServer(t, cfg, "gate", nil)
	startServer(t, cfg, "game1", game)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for gate.Root().Child("game1") == nil && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	var who string
	if err := gate.Root().CallChild(ctx, "game1", "who", &who); err != nil || who != "game1" {
		t.Fatalf("gate -> game1: %q, %v", who, err)
	}

	netSecret := []byte("secret of net 0123456789abcdef")
	for _, c := range []struct{ name, addr string }{{"game2", cfg.MasterAddr()}, {"game1", gateAddr(cfg)}, {"game2", gateAddr(cfg)}} {
		n := distributed.NewNode(c.name, distributed.WithDialOptions(rpc.WithSharedSecret("net", netSecret)))
		err := n.Connect(ctx, c.addr)
		n.Close()
		if !errors.Is(err, rpc.ErrIdentityMismatch) {
			t.Errorf("net joining %s as %s: %v, want ErrIdentityMismatch", c.addr, c.name, err)
		}
	}
	if who := gate.Root().Child("game1"); who == nil || who.Conn().Peer().Identity != "game1" {
		t.Errorf("gate's game1 = %v", who)
	}

	// A fake master that holds only gate's secret: game1's master link
	// does not get past the exchange.
	fake, err := distributed.NewRoot(distributed.WithServerOptions(rpc.WithKeyring(rpc.KeyringOf(map[string][]byte{
		"game1": []byte("guessed"), "gate": []byte("secret of gate 0123456789abcdef")}))))
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go fake.Serve(ln)
	sec, err := cfg.links("game1")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rpc.Dial(ctx, "tcp", ln.Addr().String(), sec.dial(masterIdentity, "")...)
	if err == nil {
		conn.Close()
	}
	if !errors.Is(err, rpc.ErrAuthFailed) {
		t.Errorf("game1 dialling a fake master: %v, want ErrAuthFailed", err)
	}
}

// TestClusterCertNamesProved: with a TLS certificate per process, a node
// presenting net's certificate cannot join as game1, and a server checks
// that the master it dials holds the master's certificate, not another
// server's.
func TestClusterCertNamesProved(t *testing.T) {
	dir := t.TempDir()
	testutil.WritePKI(t, dir, "master", "gate", "net", "game1", "game2")
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("admin-token-0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := namedConfig(t, dir, `{"tls": {"cert": "{name}.pem", "key": "{name}.key", "ca": "ca.pem"}, "admin_token_file": "admin.token"}`)
	startMaster(t, cfg)
	gate, _ := startServer(t, cfg, "gate", nil)
	startServer(t, cfg, "game1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for gate.Root().Child("game1") == nil && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if c := gate.Root().Child("game1"); c == nil {
		t.Fatal("game1 did not join gate")
	}
	netSec, err := cfg.links("net")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ target, addr string }{{masterIdentity, cfg.MasterAddr()}, {"gate", gateAddr(cfg)}} {
		n := distributed.NewNode("game2", distributed.WithDialOptions(netSec.dial(c.target, "")...))
		err := n.Connect(ctx, c.addr)
		n.Close()
		if !errors.Is(err, rpc.ErrIdentityMismatch) {
			t.Errorf("net's certificate joining %s as game2: %v, want ErrIdentityMismatch", c.target, err)
		}
	}

	// gate's certificate serving as the master: game1 refuses it.
	gateCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "gate.pem"), filepath.Join(dir, "gate.key"))
	if err != nil {
		t.Fatal(err)
	}
	fake, err := rpc.NewServer(struct{}{}, rpc.WithTLS(&tls.Config{Certificates: []tls.Certificate{gateCert}, MinVersion: tls.VersionTLS13}))
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go fake.Serve(ln)
	sec, err := cfg.links("game1")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rpc.Dial(ctx, "tcp", ln.Addr().String(), sec.dial(masterIdentity, "")...)
	if err == nil {
		conn.Close()
		t.Error("game1 accepted gate's certificate as the master's")
	}
}
