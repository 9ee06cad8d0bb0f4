package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/dnstest"
	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// dnsConfig is gate (root at gatePort) and game1 and net (nodes of gate,
// found through the SRV name _gate._tcp.game.test); net has a webport; the
// master is at masterHost.
func dnsConfig(t *testing.T, masterHost string, masterPort, gatePort, webPort int) *Config {
	t.Helper()
	cfg, err := ParseConfig(fmt.Appendf(nil, `{
		"master": {"roothost": %q, "rootport": %d},
		"servers": {
			"gate": {"rootport": %d},
			"net": {"webport": %d, "remoteport": [{"rootname": "gate", "dns": "_gate._tcp.game.test."}]},
			"game1": {"remoteport": [{"rootname": "gate", "dns": "_gate._tcp.game.test."}], "app": "game"}
		}}`, masterHost, masterPort, gatePort, webPort))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func startDNS(t *testing.T) *dnstest.Server {
	t.Helper()
	d, err := dnstest.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// getJSON GETs url and decodes its JSON body into v; it returns the status.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", url, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode
}

// TestDNSDiscoveryWithoutMaster: no master runs; net and game1 find gate
// through its SRV record, and find it again at its new port when gate
// restarts there. net's /readyz says 503 until gate is joined, 200 after.
func TestDNSDiscoveryWithoutMaster(t *testing.T) {
	d := startDNS(t)
	p := testutil.FreePorts(t, 4) // master (nothing listens), gate, gate moved, web
	cfg := dnsConfig(t, "127.0.0.1", p[0], p[1], p[3])
	opt := WithResolver(dnstest.Resolver(d.Addr()))
	h := &hooks{}
	apps := testApps(h)

	start := func(cfg *Config, name string) (*Server, func()) {
		s, err := NewServer(cfg, name, apps.For(cfg.Servers[name]), append(fast, opt)...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		stop := func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s Run: %v", name, err)
			}
		}
		t.Cleanup(func() {
			select {
			case <-ctx.Done():
			default:
				stop()
			}
		})
		return s, stop
	}
	netS, _ := start(cfg, "net")
	start(cfg, "game1")

	web := "http://127.0.0.1:" + strconv.Itoa(p[3])
	var health map[string]string
	waitFor(t, "net's /healthz", func() bool {
		resp, err := http.Get(web + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	if code := getJSON(t, web+"/healthz", &health); code != 200 || health["status"] != "ok" || health["server"] != "net" {
		t.Fatalf("/healthz = %d %v", code, health)
	}
	var st ServerStatus
	if code := getJSON(t, web+"/readyz", &st); code != http.StatusServiceUnavailable || st.Ready || st.Roots[0].Joined || !st.Services {
		t.Fatalf("/readyz before gate = %d %+v, want 503, not joined", code, st)
	}

	// gate comes up; the name now points at it.
	d.Set("_gate._tcp.game.test", dnstest.Record{Target: "gate.game.test.", Port: uint16(p[1])})
	d.Set("gate.game.test", dnstest.Record{IP: "127.0.0.1"})
	gate, stopGate := start(cfg, "gate")
	if a := ask(t, netS, "q1"); a != "gate(game1:q1)" {
		t.Fatalf("ask = %q", a)
	}
	waitFor(t, "net ready", func() bool { return getJSON(t, web+"/readyz", &st) == 200 })
	want := "127.0.0.1:" + strconv.Itoa(p[1])
	if !st.Ready || len(st.Roots) != 1 || !st.Roots[0].Joined || !st.Roots[0].DNS || st.Roots[0].At != want || st.Master {
		t.Fatalf("/readyz = %+v, want gate joined at %s through DNS, the master not", st, want)
	}
	gst := gate.Status()
	if gst.Root == nil || !gst.Root.Listening || fmt.Sprint(gst.Root.Children) != "[game1 net]" || !gst.Ready {
		t.Fatalf("gate's status = %+v (root %+v)", gst, gst.Root)
	}

	// gate restarts on another port: only DNS says where.
	stopGate()
	d.Set("_gate._tcp.game.test", dnstest.Record{Target: "gate.game.test.", Port: uint16(p[2])})
	moved := dnsConfig(t, "127.0.0.1", p[0], p[2], p[3])
	start(moved, "gate")
	if a := ask(t, netS, "q2"); a != "gate(game1:q2)" {
		t.Fatalf("ask after the move = %q", a)
	}
	want = "127.0.0.1:" + strconv.Itoa(p[2])
	waitFor(t, "net ready at the new port", func() bool {
		return getJSON(t, web+"/readyz", &st) == 200 && st.Roots[0].At == want
	})
}

// TestDNSMasterName: the master's roothost is a host name, or an SRV name
// (which gives the port), looked up through the server's resolver; the
// master's /cluster reports each server.
func TestDNSMasterName(t *testing.T) {
	t.Run("host", func(t *testing.T) { testDNSMasterName(t, "master.game.test") })
	t.Run("srv", func(t *testing.T) { testDNSMasterName(t, "_root._tcp.master.game.test.") })
}

func testDNSMasterName(t *testing.T, roothost string) {
	d := startDNS(t)
	p := testutil.FreePorts(t, 3)
	cfg, err := ParseConfig(fmt.Appendf(nil, `{
		"master": {"roothost": %q, "rootport": %d, "webport": %d},
		"servers": {"gate": {"rootport": %d}, "game1": {"remoteport": [{"rootname": "gate"}], "app": "game"}}}`,
		roothost, p[0], p[1], p[2]))
	if err != nil {
		t.Fatal(err)
	}
	d.Set("master.game.test", dnstest.Record{IP: "127.0.0.1"})
	d.Set("_root._tcp.master.game.test", dnstest.Record{Target: "master.game.test.", Port: uint16(p[0])})
	opt := WithResolver(dnstest.Resolver(d.Addr()))
	mcfg := *cfg
	mc := *cfg.Master
	mc.RootHost = "127.0.0.1" // for startMaster's own dial, which asks the system's DNS
	mcfg.Master = &mc
	m, _ := startMaster(t, &mcfg)
	apps := testApps(&hooks{})
	for _, name := range []string{"gate", "game1"} {
		s, err := NewServer(cfg, name, apps.For(cfg.Servers[name]), append(fast, opt)...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	waitMap(t, m, "gate", "game1")
	var sts []ServerStatus
	waitFor(t, "game1 joined gate", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		sts, err = ClusterStatus(ctx, cfg.AdminAddr())
		// Each server answers for itself, so gate's answer
		// may predate game1's join: wait until both say so.
		return err == nil && len(sts) == 2 && sts[0].Server == "game1" && sts[0].Ready &&
			sts[1].Root != nil && fmt.Sprint(sts[1].Root.Children) == "[game1]"
	})
	g := sts[1]
	if g.Server != "gate" || g.Host != "127.0.0.1" || !g.Master || g.Root == nil || fmt.Sprint(g.Root.Children) != "[game1]" || g.UptimeSeconds <= 0 {
		t.Fatalf("gate's status = %+v", g)
	}
	if r := sts[0].Roots; len(r) != 1 || r[0].Root != "gate" || !r[0].Joined || r[0].DNS {
		t.Fatalf("game1's roots = %+v", r)
	}
}

// TestRootDNSClusterWide: the master's "rootdns" gives every remoteport
// entry without a "dns" key its name; an entry's own wins.
func TestRootDNSClusterWide(t *testing.T) {
	d := startDNS(t)
	p := testutil.FreePorts(t, 2)
	cfg, err := ParseConfig(fmt.Appendf(nil, `{
		"master": {"roothost": "127.0.0.1", "rootport": %d, "rootdns": "_root._tcp.{name}.game.test."},
		"servers": {
			"gate": {"rootport": %d},
			"game1": {"remoteport": [{"rootname": "gate"}], "app": "game"},
			"net": {"remoteport": [{"rootname": "gate", "dns": "gate.game.test."}]}
		}}`, p[0], p[1]))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.RootDNS(cfg.Servers["game1"], "gate"); got != "_root._tcp.gate.game.test." {
		t.Errorf("game1's gate: %q", got)
	}
	if got := cfg.RootDNS(cfg.Servers["net"], "gate"); got != "gate.game.test." {
		t.Errorf("net's gate: %q, want its own entry's", got)
	}
	d.Set("_root._tcp.gate.game.test", dnstest.Record{Target: "gate.game.test.", Port: uint16(p[1])})
	d.Set("gate.game.test", dnstest.Record{IP: "127.0.0.1"})
	opt := WithResolver(dnstest.Resolver(d.Addr()))
	apps := testApps(&hooks{})
	var servers []*Server
	for _, name := range []string{"gate", "game1", "net"} {
		s, err := NewServer(cfg, name, apps.For(cfg.Servers[name]), append(fast, opt)...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		servers = append(servers, s)
	}
	if a := ask(t, servers[2], "q"); a != "gate(game1:q)" {
		t.Fatalf("ask = %q", a)
	}
	_, err = ParseConfig([]byte(`{"master": {"rootport": 1, "rootdns": "gate.game.test"}, "servers": {}}`))
	if !errors.Is(err, ErrBadName) {
		t.Errorf("a rootdns without {name}: %v, want ErrBadName", err)
	}
}

// TestDNSNameErrors: bad names in the config, and a name that resolves to
// nothing.
func TestDNSNameErrors(t *testing.T) {
	_, err := ParseConfig([]byte(`{"master": {"roothost": "bad host", "rootport": 1},
		"servers": {"gate": {"rootport": 2}, "n": {"remoteport": [{"rootname": "gate", "dns": "a..b"}]}}}`))
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 2 || !errors.Is(ce.Problems[0], ErrBadName) || !errors.Is(ce.Problems[1], ErrBadName) {
		t.Fatalf("ParseConfig = %v, want two ErrBadName problems", err)
	}
	d := startDNS(t)
	_, err = resolveAddrs(context.Background(), dnstest.Resolver(d.Addr()), "_gate._tcp.none.test.", 0)
	if !errors.Is(err, ErrNoAddress) {
		t.Fatalf("resolving a missing SRV name = %v, want ErrNoAddress", err)
	}
	if got := srvService("_gate._tcp.gate.game.svc.cluster.local."); got != "gate.game.svc.cluster.local" {
		t.Fatalf("srvService = %q", got)
	}
}

// TestClusterStatusErrors: a server that does not answer serverStatus
// within the call timeout, and one that does not know it, are listed with
// the error and the roots the config gives them; the others as they
// answer.
func TestClusterStatusErrors(t *testing.T) {
	cfg := testConfig(t)
	m, err := NewMaster(cfg, WithCallTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the master to listen", func() bool {
		n := distributed.NewNode("probe")
		defer n.Close()
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		defer ccancel()
		return n.Connect(cctx, cfg.MasterAddr()) == nil
	})
	startServer(t, cfg, "gate", testApps(&hooks{})["gate"])
	hung := distributed.NewService("game1@master")
	hung.Map(CmdStatus, func(ctx context.Context) (ServerStatus, error) {
		<-ctx.Done()
		return ServerStatus{}, ctx.Err()
	})
	joinAs(t, cfg, "game1", hung)
	joinAs(t, cfg, "net", distributed.NewService("net@master"))
	waitMap(t, m, "gate", "game1", "net")

	sts := m.ClusterStatus(context.Background())
	if len(sts) != 3 || sts[0].Server != "game1" || sts[1].Server != "gate" || sts[2].Server != "net" {
		t.Fatalf("ClusterStatus = %+v", sts)
	}
	if g := sts[1]; g.Error != "" || !g.Ready || g.Host != "127.0.0.1" {
		t.Errorf("gate: %+v", g)
	}
	for _, st := range []ServerStatus{sts[0], sts[2]} {
		if st.Error == "" || st.Ready || len(st.Roots) != 1 || st.Roots[0].Root != "gate" || st.Roots[0].Joined || st.Host != "127.0.0.1" {
			t.Errorf("%s: %+v, want an error and gate not joined", st.Server, st)
		}
	}
	if !strings.Contains(sts[0].Error, "deadline") || !strings.Contains(sts[2].Error, "no such") {
		t.Errorf("errors: game1 %q, net %q", sts[0].Error, sts[2].Error)
	}
}

// TestMasterAddrs resolves the master's roothost as an SRV record, as a host
// name and as an IP address, with the test's DNS server.
func TestMasterAddrs(t *testing.T) {
	d := startDNS(t)
	r := dnstest.Resolver(d.Addr())
	d.Set("master.game.test", dnstest.Record{IP: "127.0.0.1"})
	d.Set("_root._tcp.master.game.test", dnstest.Record{Target: "master.game.test.", Port: 7001})
	for _, c := range []struct{ host, want string }{
		{"_root._tcp.master.game.test", "[127.0.0.1:7001]"},
		{"master.game.test", "[127.0.0.1:9000]"},
		{"10.1.2.3", "[10.1.2.3:9000]"},
	} {
		cfg, err := ParseConfig(fmt.Appendf(nil, `{"master": {"roothost": %q, "rootport": 9000}, "servers": {"gate": {"rootport": 9001}}}`, c.host))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		addrs, err := cfg.MasterAddrs(ctx, r)
		cancel()
		if err != nil || fmt.Sprint(addrs) != c.want {
			t.Errorf("roothost %q: %v, %v; want %s", c.host, addrs, err, c.want)
		}
	}
	d.Set("_root._tcp.gone.game.test")
	cfg, err := ParseConfig([]byte(`{"master": {"roothost": "_root._tcp.gone.game.test", "rootport": 9000}, "servers": {"gate": {"rootport": 9001}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.MasterAddrs(context.Background(), r); !errors.Is(err, ErrNoAddress) {
		t.Errorf("an SRV name without records: %v, want ErrNoAddress", err)
	}
}
