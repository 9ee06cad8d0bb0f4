package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/dnstest"
)

// netns is a set of network namespaces, one per host, joined by a bridge in
// a hub namespace of their own: nothing of it is visible outside them.
type netns struct {
	t      *testing.T
	prefix string
	hub    string
	n      int
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newNetns creates the hub namespace and its bridge, or skips the test when
// the machine cannot (not root, no ip netns).
func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("multi-host test: needs root to create network namespaces (run go test as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("multi-host test: needs iproute2's ip command for network namespaces")
	}
	if err := ipCmd("netns", "list"); err != nil {
		t.Skipf("multi-host test: ip netns is not available: %v", err)
	}
	// Interface names have at most 15 bytes: "ff" + 5 digits + "h" + index.
	ns := &netns{t: t, prefix: fmt.Sprintf("ff%05d", rand.N(100000))}
	ns.hub = ns.prefix + "hub"
	if err := ipCmd("netns", "add", ns.hub); err != nil {
		t.Skipf("multi-host test: cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() { ipCmd("netns", "del", ns.hub) })
	for _, args := range [][]string{
		{"-n", ns.hub, "link", "add", "br0", "type", "bridge"},
		{"-n", ns.hub, "link", "set", "br0", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			t.Skipf("multi-host test: cannot create a bridge: %v", err)
		}
	}
	return ns
}

// host creates a namespace with address ip/24 on the bridge, and returns
// its name.
func (ns *netns) host(ip string) string {
	t := ns.t
	t.Helper()
	i := ns.n
	ns.n++
	name := fmt.Sprintf("%s-%d", ns.prefix, i)
	hubEnd, hostEnd := fmt.Sprintf("%sh%d", ns.prefix, i), fmt.Sprintf("%se%d", ns.prefix, i)
	if err := ipCmd("netns", "add", name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ipCmd("netns", "del", name)
		ipCmd("link", "del", hubEnd) // only if the test failed before moving it
	})
	for _, args := range [][]string{
		{"link", "add", hubEnd, "type", "veth", "peer", "name", hostEnd},
		{"link", "set", hubEnd, "netns", ns.hub},
		{"link", "set", hostEnd, "netns", name},
		{"-n", ns.hub, "link", "set", hubEnd, "master", "br0"},
		{"-n", ns.hub, "link", "set", hubEnd, "up"},
		{"-n", name, "addr", "add", ip + "/24", "dev", hostEnd},
		{"-n", name, "link", "set", hostEnd, "up"},
		{"-n", name, "link", "set", "lo", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			t.Fatal(err)
		}
	}
	return name
}

// TestMultiHost runs each process of the example cluster in a network
// namespace of its own, with its own address, as on separate machines. The
// master must tell net and the games gate's address (not their own, which
// Firefly sent): only then do they reach gate and net's calls cross
// net -> gate -> game. gate then moves to another address; the master tells
// the nodes the new one and calls cross again. "firefly stop", run beside
// the master, stops everything.
func TestMultiHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster in network namespaces")
	}
	ns := newNetns(t)
	began := time.Now()
	bin := buildBinary(t)
	const subnet = "10.77.0."
	ips := map[string]string{"master": "1", "gate": "2", "net": "3", "game1": "4", "game2": "5", "gate-moved": "6"}
	hosts := make(map[string]string)
	for _, name := range []string{"master", "gate", "net", "game1", "game2", "gate-moved"} {
		hosts[name] = ns.host(subnet + ips[name])
	}
	t.Logf("namespaces ready: %v", time.Since(began).Round(time.Millisecond))

	// Each namespace has its own ports: the example's own will do.
	p := ports{masterRoot: 9999, masterWeb: 9998, gateRoot: 10000, netPort: 11009}
	cfgPath := writeConfig(t, subnet+ips["master"], p)
	on := func(host string, args ...string) []string {
		return append([]string{"ip", "netns", "exec", hosts[host], bin, "-config", cfgPath, "-v"}, args...)
	}
	// Both join orders: the games join before gate (they are told where
	// gate is when it joins), net after it (told when it joins).
	joined := func(name string) string {
		return fmt.Sprintf(`msg="cluster: server joined" proc=master server=%s host=%s`, name, subnet+ips[name])
	}
	master := startProc(t, "master", on("master", "-master")...)
	game1 := startProc(t, "game1", on("game1", "-server", "game1")...)
	game2 := startProc(t, "game2", on("game2", "-server", "game2")...)
	master.waitFor(t, joined("game1"), 10*time.Second)
	master.waitFor(t, joined("game2"), 10*time.Second)
	gate := startProc(t, "gate", on("gate", "-server", "gate")...)
	master.waitFor(t, joined("gate"), 10*time.Second)
	netp := startProc(t, "net", on("net", "-server", "net")...)

	// Each game joins gate on its own, backing off while gate comes up, and
	// net asks each until it answers (2 s an attempt): on a loaded machine
	// game2's answer can come seconds after game1's, so both get the same
	// time.
	netp.waitFor(t, "net -> gate -> game1 -> gate -> net: game1 welcomes alice", 20*time.Second)
	netp.waitFor(t, "net -> gate -> game2 -> gate -> net: game2 welcomes alice", 20*time.Second)

	// What the master saw and what it said.
	master.waitFor(t, joined("net"), time.Second)
	gateAddr := fmt.Sprintf("%s%s:%d", subnet, ips["gate"], p.gateRoot)
	for _, node := range []*proc{netp, game1, game2} {
		node.waitFor(t, fmt.Sprintf(`root=gate host=%s%s`, subnet, ips["gate"]), time.Second)
		node.waitFor(t, `msg="cluster: joined root" proc=`+node.name+" server="+node.name+" root=gate addr="+gateAddr, time.Second)
		if own := "root=gate host=" + subnet + ips[node.name]; strings.Contains(node.stderr.String(), own) {
			t.Errorf("%s was told its own host for gate (%s)", node.name, own)
		}
	}
	t.Logf("route crosses three hosts: %v", time.Since(began).Round(time.Millisecond))

	// gate moves to another host: the nodes' own reconnection would go on
	// dialling the old address; the master's order sends them to the new one.
	gate.kill(t)
	moved := startProc(t, "gate-moved", on("gate-moved", "-server", "gate")...)
	movedAddr := fmt.Sprintf("%s%s:%d", subnet, ips["gate-moved"], p.gateRoot)
	for _, node := range []*proc{netp, game1, game2} {
		node.waitFor(t, "root=gate addr="+movedAddr, 15*time.Second)
	}
	// net's demo ran once at start; ask again, from a client beside net.
	for _, g := range []string{"game1", "game2"} {
		want := "net -> gate -> " + g + " -> gate -> net: " + g + " welcomes erin"
		if got := askInNamespace(t, hosts["net"], fmt.Sprintf("127.0.0.1:%d", p.netPort), g); got != want {
			t.Errorf("ask = %q, want %q", got, want)
		}
	}
	t.Logf("gate moved, route crosses again: %v", time.Since(began).Round(time.Millisecond))

	// Admin from the master's host (the endpoints are on its loopback).
	out, err := exec.Command("ip", "netns", "exec", hosts["master"], bin, "stop", "-config", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("firefly stop: %v\n%s", err, out)
	}
	for _, p := range []*proc{master, moved, netp, game1, game2} {
		if err := p.wait(t, 10*time.Second); err != nil {
			t.Errorf("%s exited with %v", p.name, err)
		}
	}
	t.Logf("stopped, all exited 0: %v", time.Since(began).Round(time.Millisecond))
}

// askInNamespace runs this test binary in namespace host as a client that
// asks net at addr (see TestMain) and returns its answer.
func askInNamespace(t *testing.T, host, addr, game string) string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", host, os.Args[0])
	cmd.Env = append(os.Environ(), askEnv+"="+addr, askGameEnv+"="+game)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("asking from %s: %v\n%s", host, err, out)
	}
	return strings.TrimSpace(string(out))
}

// The environment of a test binary run as a client by askInNamespace.
const (
	askEnv     = "FIREFLY_TEST_ASK_ADDR"
	askGameEnv = "FIREFLY_TEST_ASK_GAME"
)

// The environment of a test binary run as a DNS server by dnsInNamespace:
// it answers on the address from the zone file.
const (
	dnsAddrEnv = "FIREFLY_TEST_DNS_ADDR"
	dnsZoneEnv = "FIREFLY_TEST_DNS_ZONE"
)

// TestMain runs the tests; or, run by askInNamespace, asks net once (with
// retries for 15 s) and prints the answer; or, run by dnsInNamespace,
// answers DNS queries until killed.
func TestMain(m *testing.M) {
	if addr := os.Getenv(dnsAddrEnv); addr != "" {
		s, err := dnstest.Start(addr, os.Getenv(dnsZoneEnv))
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("dns: answering on", s.Addr())
		select {}
	}
	if addr := os.Getenv(askEnv); addr != "" {
		deadline := time.Now().Add(15 * time.Second)
		for {
			line, err := askOnce(context.Background(), addr, os.Getenv(askGameEnv), "erin", 2*time.Second)
			if err == nil {
				fmt.Println(line)
				os.Exit(0)
			}
			if time.Now().After(deadline) {
				fmt.Println(err)
				os.Exit(1)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	os.Exit(m.Run())
}

// TestMultiHostDNS runs gate, net and the games in network namespaces of
// their own, with no master: the nodes find gate through an SRV record
// served by a DNS server on a fourth host (-dns). gate then restarts on
// another host under the same name; the record is changed, and the nodes,
// which look the name up again before each attempt, join it there with no
// other step.
func TestMultiHostDNS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster in network namespaces")
	}
	ns := newNetns(t)
	began := time.Now()
	bin := buildBinary(t)
	const subnet = "10.78.0."
	ips := map[string]string{"dns": "1", "gate": "2", "net": "3", "game1": "4", "game2": "5", "gate-moved": "6"}
	hosts := make(map[string]string)
	for _, name := range []string{"dns", "gate", "net", "game1", "game2", "gate-moved"} {
		hosts[name] = ns.host(subnet + ips[name])
	}
	dir := t.TempDir()
	zone := filepath.Join(dir, "zone.json")
	setGate := func(ip string) {
		t.Helper()
		err := dnstest.WriteZone(zone, dnstest.Zone{
			"_gate._tcp.game.test": {{Target: "gate.game.test.", Port: 10000}},
			"gate.game.test":       {{IP: ip}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setGate(subnet + ips["gate"])
	dnsAddr := subnet + ips["dns"] + ":5353"
	dnsProc := exec.Command("ip", "netns", "exec", hosts["dns"], os.Args[0])
	dnsProc.Env = append(os.Environ(), dnsAddrEnv+"="+dnsAddr, dnsZoneEnv+"="+zone)
	if err := dnsProc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsProc.Process.Kill(); dnsProc.Wait() })

	cfgPath := filepath.Join(dir, "cluster.json")
	cfg := `{
  "master": {"roothost": "master.game.test.", "rootport": 9999},
  "servers": {
    "gate": {"rootport": 10000, "app": "gate"},
    "net": {"netport": 11009, "app": "net", "remoteport": [{"rootname": "gate", "dns": "_gate._tcp.game.test."}]},
    "game1": {"app": "game", "remoteport": [{"rootname": "gate", "dns": "_gate._tcp.game.test."}]},
    "game2": {"app": "game", "remoteport": [{"rootname": "gate", "dns": "_gate._tcp.game.test."}]}
  }
}`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	on := func(host string, args ...string) []string {
		return append([]string{"ip", "netns", "exec", hosts[host], bin, "-config", cfgPath, "-v", "-dns", dnsAddr}, args...)
	}
	game1 := startProc(t, "game1", on("game1", "-server", "game1")...)
	game2 := startProc(t, "game2", on("game2", "-server", "game2")...)
	gate := startProc(t, "gate", on("gate", "-server", "gate")...)
	netp := startProc(t, "net", on("net", "-server", "net")...)
	// Each game joins gate on its own, backing off while gate comes up, and
	// net asks each until it answers (2 s an attempt): on a loaded machine
	// game2's answer can come seconds after game1's, so both get the same
	// time.
	netp.waitFor(t, "net -> gate -> game1 -> gate -> net: game1 welcomes alice", 20*time.Second)
	netp.waitFor(t, "net -> gate -> game2 -> gate -> net: game2 welcomes alice", 20*time.Second)
	joinedAt := func(ip string) string {
		return "root=gate addr=_gate._tcp.game.test. at=" + subnet + ip + ":10000"
	}
	for _, node := range []*proc{netp, game1, game2} {
		node.waitFor(t, joinedAt(ips["gate"]), time.Second)
	}
	t.Logf("route crosses three hosts, found through DNS: %v", time.Since(began).Round(time.Millisecond))

	gate.kill(t)
	startProc(t, "gate-moved", on("gate-moved", "-server", "gate")...)
	setGate(subnet + ips["gate-moved"])
	for _, node := range []*proc{netp, game1, game2} {
		node.waitFor(t, joinedAt(ips["gate-moved"]), 15*time.Second)
	}
	for _, g := range []string{"game1", "game2"} {
		want := "net -> gate -> " + g + " -> gate -> net: " + g + " welcomes erin"
		if got := askInNamespace(t, hosts["net"], "127.0.0.1:11009", g); got != want {
			t.Errorf("ask = %q, want %q", got, want)
		}
	}
	t.Logf("gate moved, found again through DNS: %v", time.Since(began).Round(time.Millisecond))
}
