package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc/cluster"
)

const joinOrder = `msg="cluster: master says join root"`

// TestClusterProcesses runs the example cluster as five processes of the
// built binary, on loopback: calls cross net -> gate -> game; gate is
// killed and started again (net and the games join it again on the
// master's orders); the master is killed and started again (every server
// joins the new one, which rebuilds its map and orders the joins again);
// then "firefly reload" and "firefly stop" reach every server and every
// process exits 0.
func TestClusterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs five processes")
	}
	began := time.Now()
	bin := buildBinary(t)
	pp := testutil.FreePorts(t, 4)
	p := ports{masterRoot: pp[0], masterWeb: pp[1], gateRoot: pp[2], netPort: pp[3]}
	cfgPath := writeConfig(t, "127.0.0.1", p)
	netAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.netPort))
	adminAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.masterWeb))
	run := func(args ...string) []string { return append([]string{bin, "-config", cfgPath, "-v"}, args...) }

	master := startProc(t, "master", run("-master")...)
	gate := startProc(t, "gate", run("-server", "gate")...)
	netp := startProc(t, "net", run("-server", "net")...)
	game1 := startProc(t, "game1", run("-server", "game1")...)
	game2 := startProc(t, "game2", run("-server", "game2")...)

	// net's own demo shows the route once the cluster is up.
	netp.waitFor(t, "net -> gate -> game1 -> gate -> net: game1 welcomes alice", 15*time.Second)
	netp.waitFor(t, "net -> gate -> game2 -> gate -> net: game2 welcomes alice", 5*time.Second)
	for _, g := range []string{"game1", "game2"} {
		want := "net -> gate -> " + g + " -> gate -> net: " + g + " welcomes bob"
		if got := ask(t, netAddr, g, "bob", 5*time.Second); got != want {
			t.Fatalf("ask = %q, want %q", got, want)
		}
	}
	t.Logf("cluster up, calls routed: %v", time.Since(began).Round(time.Millisecond))

	// gate dies: calls through it fail; it comes back: the master tells
	// net and the games to join it again, and calls work again.
	orders := [3]int{netp.count(joinOrder), game1.count(joinOrder), game2.count(joinOrder)}
	gate.kill(t)
	if _, err := askOnce(context.Background(), netAddr, "game1", "carol", 300*time.Millisecond); err == nil {
		t.Fatal("a call crossed a dead gate")
	}
	gate = startProc(t, "gate2", run("-server", "gate")...)
	for _, g := range []string{"game1", "game2"} {
		ask(t, netAddr, g, "carol", 15*time.Second)
	}
	after := [3]int{netp.count(joinOrder), game1.count(joinOrder), game2.count(joinOrder)}
	for i, name := range []string{"net", "game1", "game2"} {
		if after[i] <= orders[i] {
			t.Errorf("%s got no remote_connect after gate restarted", name)
		}
	}
	t.Logf("gate restarted, calls routed again: %v", time.Since(began).Round(time.Millisecond))

	// The master dies and comes back: every server joins it again and it
	// rebuilds its remote map.
	master.kill(t)
	master = startProc(t, "master2", run("-master")...)
	waitStatus(t, adminAddr, 15*time.Second, "game1", "game2", "gate", "net")
	// The new master's orders work: gate restarts once more.
	orders = [3]int{netp.count(joinOrder), game1.count(joinOrder), game2.count(joinOrder)}
	gate.kill(t)
	gate = startProc(t, "gate3", run("-server", "gate")...)
	for _, g := range []string{"game1", "game2"} {
		ask(t, netAddr, g, "dave", 15*time.Second)
	}
	after = [3]int{netp.count(joinOrder), game1.count(joinOrder), game2.count(joinOrder)}
	for i, name := range []string{"net", "game1", "game2"} {
		if after[i] <= orders[i] {
			t.Errorf("%s got no remote_connect from the restarted master", name)
		}
	}
	t.Logf("master restarted, servers re-registered: %v", time.Since(began).Round(time.Millisecond))

	// Admin from the CLI: reload, then stop; every process exits 0.
	if out, err := exec.Command(bin, "reload", "-config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("firefly reload: %v\n%s", err, out)
	}
	for _, p := range []*proc{gate, netp, game1, game2} {
		p.waitFor(t, ": reloaded", 5*time.Second)
	}
	out, err := exec.Command(bin, "stop", "-config", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("firefly stop: %v\n%s", err, out)
	}
	if want := `stop: {"servers":["game1","game2","gate","net"]}`; !strings.Contains(string(out), want) {
		t.Errorf("firefly stop printed %q, want %q", out, want)
	}
	for _, p := range []*proc{master, gate, netp, game1, game2} {
		if err := p.wait(t, 10*time.Second); err != nil {
			t.Errorf("%s exited with %v", p.name, err)
		}
	}
	for _, p := range []*proc{gate, netp, game1, game2} {
		if !strings.Contains(p.stdout.String(), ": stop hook ran") {
			t.Errorf("%s did not run its stop hook", p.name)
		}
	}
	t.Logf("stopped through admin, all exited 0: %v", time.Since(began).Round(time.Millisecond))
}

// waitStatus waits until the master's remote map holds exactly names.
func waitStatus(t *testing.T, adminAddr string, d time.Duration, names ...string) map[string]cluster.Remote {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cluster.Status(ctx, adminAddr)
		cancel()
		if err == nil && len(st) == len(names) {
			ok := true
			for _, n := range names {
				_, in := st[n]
				ok = ok && in
			}
			if ok {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("master's remote map: %v, %v; want %v", st, err, names)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLauncher is the README's command: one process starts the master and
// every server as children; net's output shows the route; "firefly stop"
// ends them all and the launcher exits 0.
func TestLauncher(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster")
	}
	bin := buildBinary(t)
	pp := testutil.FreePorts(t, 4)
	cfgPath := writeConfig(t, "127.0.0.1", ports{pp[0], pp[1], pp[2], pp[3]})
	l := startProc(t, "launcher", bin, "-config", cfgPath)
	l.waitFor(t, "[net   ] net -> gate -> game1 -> gate -> net: game1 welcomes alice", 15*time.Second)
	l.waitFor(t, "[net   ] net -> gate -> game2 -> gate -> net: game2 welcomes alice", 5*time.Second)
	if out, err := exec.Command(bin, "stop", "-config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("firefly stop: %v\n%s", err, out)
	}
	if err := l.wait(t, 15*time.Second); err != nil {
		t.Fatalf("launcher exited with %v", err)
	}
	for _, name := range []string{"master", "gate", "net", "game1", "game2"} {
		if want := fmt.Sprintf("[%-6s] exited: exit status 0", name); !strings.Contains(l.stderr.String(), want) {
			t.Errorf("launcher's output lacks %q", want)
		}
	}
}

// TestLauncherSkip: -skip leaves a server to run elsewhere; the launcher
// starts the others, and refuses a name the config does not have.
func TestLauncherSkip(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster")
	}
	bin := buildBinary(t)
	pp := testutil.FreePorts(t, 4)
	cfgPath := writeConfig(t, "127.0.0.1", ports{pp[0], pp[1], pp[2], pp[3]})
	out, err := exec.Command(bin, "-config", cfgPath, "-skip", "game1,nobody").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `-skip "nobody": no server of that name`) {
		t.Errorf("-skip nobody: %v\n%s", err, out)
	}
	l := startProc(t, "launcher", bin, "-config", cfgPath, "-skip", "game2")
	l.waitFor(t, "[net   ] net -> gate -> game1 -> gate -> net: game1 welcomes alice", 15*time.Second)
	if out, err := exec.Command(bin, "stop", "-config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("firefly stop: %v\n%s", err, out)
	}
	if err := l.wait(t, 15*time.Second); err != nil {
		t.Fatalf("launcher exited with %v", err)
	}
	got := l.stderr.String()
	for _, name := range []string{"master", "gate", "net", "game1"} {
		if want := fmt.Sprintf("[%-6s] exited: exit status 0", name); !strings.Contains(got, want) {
			t.Errorf("launcher's output lacks %q", want)
		}
	}
	if strings.Contains(got, "[game2") {
		t.Errorf("game2 was started:\n%s", got)
	}
}

func TestUsage(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{{"nope"}, {"-bogus"}, {"-master", "-server", "gate"}, {"stop", "extra"}} {
		err := dispatch(ctx, args)
		if _, ok := err.(*usageError); !ok {
			t.Errorf("dispatch(%q) = %v, want a usage error", args, err)
		}
	}
	if err := dispatch(ctx, []string{"-config", "/nonexistent.json"}); err == nil {
		t.Error("a missing config was accepted")
	}
}
