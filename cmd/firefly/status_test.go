package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc/cluster"
)

// TestStatusAndProbes runs the example cluster through the built binary,
// with a webport on gate and net: "firefly status" prints every server
// with its host, root and children, -json the same for scripts; the
// servers' /healthz and /readyz answer as probes expect.
func TestStatusAndProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster")
	}
	bin := buildBinary(t)
	p := testutil.FreePorts(t, 6)
	cfgPath := filepath.Join(t.TempDir(), "cluster.json")
	cfg := fmt.Sprintf(`{
  "master": {"roothost": "127.0.0.1", "rootport": %d, "webport": %d},
  "servers": {
    "gate": {"rootport": %d, "webport": %d, "app": "gate"},
    "net": {"netport": %d, "webport": %d, "app": "net", "remoteport": [{"rootname": "gate"}]},
    "game1": {"app": "game", "remoteport": [{"rootname": "gate"}]},
    "game2": {"app": "game", "remoteport": [{"rootname": "gate"}]}
  }
}`, p[0], p[1], p[2], p[3], p[4], p[5])
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	l := startProc(t, "launcher", bin, "-config", cfgPath)
	l.waitFor(t, "game2 welcomes alice", 20*time.Second)
	if strings.Contains(l.stderr.String(), "level=INFO") {
		t.Errorf("the launch logged Info lines without -v:\n%s", l.stderr.String())
	}

	// -json, retried until every server is ready.
	var sts []cluster.ServerStatus
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := exec.Command(bin, "status", "-config", cfgPath, "-json").Output()
		if err != nil {
			t.Fatalf("firefly status -json: %v", err)
		}
		sts = nil
		if err := json.Unmarshal(out, &sts); err != nil {
			t.Fatalf("status -json is not JSON: %v\n%s", err, out)
		}
		ready := len(sts) == 4
		for _, st := range sts {
			ready = ready && st.Ready
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every server ready: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	names := []string{}
	for _, st := range sts {
		names = append(names, st.Server)
		if st.Host != "127.0.0.1" || !st.Master || st.UptimeSeconds <= 0 {
			t.Errorf("%s: %+v", st.Server, st)
		}
	}
	if fmt.Sprint(names) != "[game1 game2 gate net]" {
		t.Errorf("servers %v", names)
	}
	gate := sts[2]
	if gate.Root == nil || fmt.Sprint(gate.Root.Children) != "[game1 game2 net]" || len(gate.Roots) != 0 {
		t.Errorf("gate: %+v root %+v", gate, gate.Root)
	}
	gateAt := fmt.Sprintf("127.0.0.1:%d", p[2])
	if r := sts[3].Roots; len(r) != 1 || r[0].Root != "gate" || !r[0].Joined || r[0].At != gateAt {
		t.Errorf("net's roots: %+v", r)
	}

	// The table.
	out, err := exec.Command(bin, "status", "-config", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("firefly status: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "SERVER") {
		t.Fatalf("status table:\n%s", out)
	}
	for i, want := range [][]string{
		{"game1", "127.0.0.1", "yes", "gate at " + gateAt},
		{"game2", "127.0.0.1", "yes", "gate at " + gateAt},
		{"gate", "127.0.0.1", "yes", "(game1, game2, net)"},
		{"net", "127.0.0.1", "yes", "gate at " + gateAt},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("status line %q lacks %q", lines[i+1], w)
			}
		}
	}

	// The probes.
	for _, port := range []int{p[3], p[5]} {
		for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf(":%d%s = %s %s", port, path, resp.Status, resp.Header.Get("Content-Type"))
			}
		}
	}

	// Stopping still works beside the probes.
	if out, err := exec.Command(bin, "stop", "-config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("firefly stop: %v\n%s", err, out)
	}
	if err := l.wait(t, 15*time.Second); err != nil {
		t.Fatalf("launcher: %v", err)
	}
}

// TestProbeNotReady: a server whose root is not up answers /readyz with
// 503 and /healthz with 200.
func TestProbeNotReady(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	p := testutil.FreePorts(t, 4)
	cfgPath := filepath.Join(t.TempDir(), "cluster.json")
	cfg := fmt.Sprintf(`{
  "master": {"roothost": "127.0.0.1", "rootport": %d},
  "servers": {"gate": {"rootport": %d}, "game1": {"webport": %d, "app": "game", "remoteport": [{"rootname": "gate"}]}}
}`, p[0], p[1], p[2])
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startProc(t, "game1", bin, "-config", cfgPath, "-server", "game1")
	base := fmt.Sprintf("http://127.0.0.1:%d", p[2])
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err = http.Get(base + "/healthz"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz = %s", resp.Status)
	}
	resp, err = http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var st cluster.ServerStatus
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || st.Ready || st.Master || len(st.Roots) != 1 || st.Roots[0].Joined {
		t.Errorf("/readyz = %s %+v, want 503, nothing joined", resp.Status, st)
	}
}
