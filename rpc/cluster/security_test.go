package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

func TestSecureCluster(t *testing.T) {
	dir := t.TempDir()
	testutil.WritePKI(t, dir, "node")
	if err := os.WriteFile(filepath.Join(dir, "cluster.secret"), []byte("a-long-random-cluster-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testutil.FreePorts(t, 3)
	path := filepath.Join(dir, "config.json")
	err := os.WriteFile(path, fmt.Appendf(nil, `{
		"master": {"roothost": "127.0.0.1", "rootport": %d, "webport": %d},
		"servers": {
			"gate": {"rootport": %d},
			"game1": {"remoteport": [{"rootname": "gate"}]}
		},
		"security": {
			"tls": {"cert": "node.pem", "key": "node.key", "ca": "ca.pem"},
			"secret_file": "cluster.secret"
		}}`, p[0], p[1], p[2]), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	startMaster(t, cfg)
	apps := Apps{
		"gate": func(ctx context.Context, s *Server) error {
			return s.Root().Service().Map("hello", func(ctx context.Context, who string) (string, error) {
				conn, _ := rpc.ConnFromContext(ctx)
				var g string
				err := s.Root().CallChild(ctx, "game1", "greet", &g, who)
				return g + " (caller proved " + conn.Peer().Identity + ")", err
			})
		},
		"game1": func(ctx context.Context, s *Server) error {
			return s.NodeService("gate").Map("greet", func(who string) string { return "game1 greets " + who })
		},
	}
	game, _ := startServer(t, cfg, "game1", apps["game1"])
	startServer(t, cfg, "gate", apps["gate"])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got string
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		err = game.CallRemote(cctx, "gate", "hello", &got, "alice")
		ccancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || got != "game1 greets alice (caller proved game1)" {
		t.Fatalf("hello over TLS and the shared secret = %q, %v", got, err)
	}

	// A peer without the cluster's credentials gets nothing, at the gate or
	// at the master.
	for _, addr := range []string{net.JoinHostPort("127.0.0.1", fmt.Sprint(p[2])), cfg.MasterAddr()} {
		dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := rpc.Dial(dctx, "tcp", addr)
		dcancel()
		if err == nil {
			c.Close()
			t.Errorf("plain dial to %s succeeded", addr)
		}
	}
}

func TestSecurityConfigErrors(t *testing.T) {
	for _, c := range []struct{ section, want string }{
		{`{"tls": {"cert": "a.pem"}}`, "tls needs cert, key and ca"},
		{`{"tls": 3}`, "cannot unmarshal"},
		{`{"secret_file": "/nonexistent/secret"}`, "no such file"},
		{`{"tls": {"cert": "/nonexistent/a", "key": "/nonexistent/b", "ca": "/nonexistent/c"}}`, "no such file"},
	} {
		cfg, err := ParseConfig(fmt.Appendf(nil, `{"master": {"rootport": 1000}, "servers": {"gate": {"rootport": 1001}}, "security": %s}`, c.section))
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewServer(cfg, "gate", nil)
		if !errors.Is(err, ErrSecurity) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("security %s: NewServer = %v, want ErrSecurity with %q", c.section, err, c.want)
		}
	}
}
