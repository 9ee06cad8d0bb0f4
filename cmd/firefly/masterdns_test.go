package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/fireflyrpc/firefly/internal/dnstest"
	"github.com/fireflyrpc/firefly/rpc"
)

// dnsMaster stands in for a master: a root object with one method.
type dnsMaster struct{}

func (dnsMaster) RemotePing() string { return "pong" }

// TestServerMasterThroughDNS: with -server master, a roothost that names an
// SRV record is looked up (at the DNS server -dns names) and its target
// dialled.
func TestServerMasterThroughDNS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	srv, err := rpc.NewServer(dnsMaster{}, rpc.WithIntrospection(true))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	d, err := dnstest.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	d.Set("master.game.test", dnstest.Record{IP: "127.0.0.1"})
	d.Set("_root._tcp.master.game.test", dnstest.Record{Target: "master.game.test.", Port: uint16(ln.Addr().(*net.TCPAddr).Port)})
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	cfg := `{"master": {"roothost": "_root._tcp.master.game.test", "rootport": 1}, "servers": {"gate": {"rootport": 2}}}`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runBin(t, bin, "call", "-config", cfgPath, "-server", "master", "-dns", d.Addr(), "-method", "ping")
	if code != 0 || out != "\"pong\"\n" {
		t.Errorf("call -server master -dns: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	d.Set("_root._tcp.master.game.test")
	_, errOut, code = runBin(t, bin, "call", "-config", cfgPath, "-server", "master", "-dns", d.Addr(), "-method", "ping", "-timeout", "5s")
	if code != 1 || errOut == "" {
		t.Errorf("an SRV name without records: exit %d, stderr %q; want 1 and the reason", code, errOut)
	}
}
