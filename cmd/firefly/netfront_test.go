package main

import (
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc/netconnect"
)

// TestClientCommand runs the example cluster from the built binary and
// speaks to net's netport with "firefly client": command 1001 crosses net
// -> gate -> game and back; command 1002 makes the gate push its text
// with command 2001 to every connected client.
func TestClientCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster")
	}
	bin := buildBinary(t)
	pp := testutil.FreePorts(t, 4)
	p := ports{pp[0], pp[1], pp[2], pp[3]}
	cfgPath := writeConfig(t, "127.0.0.1", p)
	netAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.netPort))
	l := startProc(t, "launcher", bin, "-introspect", "-config", cfgPath)
	l.waitFor(t, "[net   ] net -> gate -> game1 -> gate -> net: game1 welcomes alice", 15*time.Second)
	l.waitFor(t, "[net   ] net -> gate -> game2 -> gate -> net: game2 welcomes alice", 5*time.Second)

	client := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"client", "-addr", netAddr}, args...)...).Output()
		if err != nil {
			t.Fatalf("firefly client %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	for _, g := range []string{"game1", "game2"} {
		want := "net -> gate -> " + g + " -> gate -> net: " + g + " welcomes alice\n"
		if got := client("-command", "1001", "-body", g+" alice"); got != want {
			t.Fatalf("firefly client 1001 %q printed %q, want %q", g, got, want)
		}
	}

	// A client that stays connected gets the push another client caused.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	watcher, err := netconnect.Dial(ctx, netAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	if got, err := watcher.Request(ctx, 1001, []byte("game1 bob")); err != nil || !strings.HasSuffix(string(got), "game1 welcomes bob") {
		t.Fatalf("watcher's request: %q, %v", got, err)
	}
	out := client("-command", "1002", "-body", "hello, players", "-listen", "2s")
	if !strings.HasPrefix(out, "pushed\n") || !strings.Contains(out, "push 2001: hello, players\n") {
		t.Fatalf("firefly client 1002 printed %q", out)
	}
	p2, err := watcher.Recv(ctx)
	if err != nil || p2.Command != 2001 || string(p2.Body) != "hello, players" {
		t.Fatalf("watcher got %+v, %v", p2, err)
	}

	// An operator reads the front-end's counters at the gate: the two
	// sessions open now.
	gateAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.gateRoot))
	statsOut, err := exec.Command(bin, "call", "-addr", gateAddr, "-target", "frontendStats", "-args", `["net"]`).CombinedOutput()
	if err != nil {
		t.Fatalf("firefly call frontendStats: %v\n%s", err, statsOut)
	}
	var st netconnect.Stats
	if err := json.Unmarshal(statsOut, &st); err != nil || st.SessionsTotal < 5 || st.PacketsIn < 5 {
		t.Fatalf("firefly call frontendStats printed %s (%v)", statsOut, err)
	}

	if out, err := exec.Command(bin, "stop", "-config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("firefly stop: %v\n%s", err, out)
	}
	if err := l.wait(t, 15*time.Second); err != nil {
		t.Fatalf("launcher exited with %v", err)
	}
}
