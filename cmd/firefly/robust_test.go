package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// TestClusterNameTaken starts a second process as game1 while game1 runs:
// the master refuses it (both log it at Warn or Error with the name and
// both addresses), it retries at its longest backoff delay only, and the
// first game1 keeps its place and keeps answering.
func TestClusterNameTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster")
	}
	bin := buildBinary(t)
	pp := testutil.FreePorts(t, 4)
	p := ports{masterRoot: pp[0], masterWeb: pp[1], gateRoot: pp[2], netPort: pp[3]}
	cfgPath := writeConfig(t, "127.0.0.1", p)
	netAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.netPort))
	run := func(args ...string) []string { return append([]string{bin, "-config", cfgPath, "-v"}, args...) }

	master := startProc(t, "master", run("-master")...)
	startProc(t, "gate", run("-server", "gate")...)
	startProc(t, "net", run("-server", "net")...)
	game1 := startProc(t, "game1", run("-server", "game1")...)
	ask(t, netAddr, "game1", "bob", 15*time.Second)

	impostor := startProc(t, "game1-again", run("-server", "game1")...)
	impostor.waitFor(t, "distributed: node refused by the root", 15*time.Second)
	master.waitFor(t, "node name taken", 5*time.Second)
	for _, who := range []*proc{impostor, master} {
		line := lineWith(who.stderr.String(), "node name taken")
		if !strings.Contains(line, "level=WARN") && !strings.Contains(line, "level=ERROR") {
			t.Errorf("%s logged the refusal below Warn: %s", who.name, line)
		}
		if !strings.Contains(line, "game1") || strings.Count(line, "127.0.0.1:") < 2 {
			t.Errorf("%s's log line does not name game1 and both addresses: %s", who.name, line)
		}
	}
	// Watch for three seconds: the refused process retries at its longest
	// delay (0.5-1 s), and the first game1 is never evicted.
	before := master.count("node name taken")
	time.Sleep(3 * time.Second)
	refusals := master.count("node name taken") - before
	if refusals > 8 {
		t.Errorf("%d refusals in 3 s: the refused process does not back off", refusals)
	}
	t.Logf("%d refusals in 3 s", refusals)
	if strings.Contains(game1.stderr.String(), "lost its connection") {
		t.Errorf("the first game1 lost its connection:\n%s", game1.stderr.String())
	}
	if got := master.count("child replaced"); got != 0 {
		t.Errorf("the master replaced a child %d times", got)
	}
	if got := ask(t, netAddr, "game1", "carol", 5*time.Second); !strings.Contains(got, "game1 welcomes carol") {
		t.Errorf("ask = %q", got)
	}
}

// lineWith returns the first line of s that contains sub, or "".
func lineWith(s, sub string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}

// TestUnknownAppIsConfigError: an "app" naming no app this binary has is a
// config error at startup, for one server and for the launcher, which
// then starts nothing.
func TestUnknownAppIsConfigError(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	pp := testutil.FreePorts(t, 4)
	cfgPath := writeConfig(t, "127.0.0.1", ports{pp[0], pp[1], pp[2], pp[3]})
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte(`"app": "gate"`), []byte(`"app": "gaet"`), 1)
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-server", "gate"}, {}} {
		p := startProc(t, "firefly "+strings.Join(args, " "), append([]string{bin, "-config", cfgPath}, args...)...)
		err := p.wait(t, 10*time.Second)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("%v: exit %v, want status 1", args, err)
		}
		out := p.stderr.String()
		if !strings.Contains(out, `"gaet"`) || !strings.Contains(out, "no such app") {
			t.Errorf("%v: stderr does not name the unknown app:\n%s", args, out)
		}
		if strings.Contains(out, "started, pid") {
			t.Errorf("%v: the launcher started children:\n%s", args, out)
		}
	}
}

// TestLauncherServerFails has gate's rootport taken: by default the
// launcher reports gate's failure, stops every other child and exits
// non-zero; with -restart it restarts gate with backoff until the port is
// free, and the cluster then works and stops cleanly.
func TestLauncherServerFails(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster")
	}
	bin := buildBinary(t)
	pp := testutil.FreePorts(t, 4)
	cfgPath := writeConfig(t, "127.0.0.1", ports{pp[0], pp[1], pp[2], pp[3]})
	block, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(pp[2])))
	if err != nil {
		t.Fatal(err)
	}
	defer block.Close()

	l := startProc(t, "launcher", bin, "-config", cfgPath)
	err = l.wait(t, 30*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("launcher exit = %v, want status 1", err)
	}
	out := l.stderr.String()
	for _, want := range []string{"address already in use", "firefly: gate failed: exit status 1; stopping every server"} {
		if !strings.Contains(out, want) {
			t.Errorf("launcher's output lacks %q:\n%s", want, out)
		}
	}
	for _, name := range []string{"master", "net", "game1", "game2"} {
		if want := fmt.Sprintf("[%-6s] exited: ", name); !strings.Contains(out, want) {
			t.Errorf("launcher's output lacks %q: %s still ran", want, name)
		}
	}

	l = startProc(t, "launcher -restart", bin, "-config", cfgPath, "-restart")
	l.waitFor(t, "firefly: gate failed: exit status 1; restarting it in", 30*time.Second)
	l.waitFor(t, "firefly: gate failed: exit status 1; restarting it in", 30*time.Second)
	block.Close()
	l.waitFor(t, "[net   ] net -> gate -> game1 -> gate -> net: game1 welcomes alice", 30*time.Second)
	if out, err := exec.Command(bin, "stop", "-config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("firefly stop: %v\n%s", err, out)
	}
	if err := l.wait(t, 20*time.Second); err != nil {
		t.Errorf("launcher -restart exited with %v", err)
	}
}

// TestAdminPortProcess runs a secured master: a plain GET of /stop and a
// POST without the token stop nothing, the status stays readable, and
// "firefly stop" (which reads the token from the config) stops it.
func TestAdminPortProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("admin-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cluster.secret"), []byte("a-long-random-cluster-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pp := testutil.FreePorts(t, 2)
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, `{
		"master": {"roothost": "127.0.0.1", "rootport": %d, "webport": %d},
		"servers": {},
		"security": {"secret_file": "cluster.secret", "admin_token_file": "admin.token"}}`, pp[0], pp[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	master := startProc(t, "master", bin, "-config", cfgPath, "-master", "-v")
	master.waitFor(t, "cluster: master admin listening", 15*time.Second)
	base := fmt.Sprintf("http://127.0.0.1:%d", pp[1])
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/stop", http.StatusMethodNotAllowed},
		{"POST", "/stop", http.StatusUnauthorized},
		{"POST", "/reloadmodule", http.StatusUnauthorized},
		{"GET", "/status", http.StatusOK},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %s, want %d", c.method, c.path, resp.Status, c.want)
		}
		select {
		case <-master.done:
			t.Fatalf("the master exited after %s %s", c.method, c.path)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if out, err := exec.Command(bin, "stop", "-config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("firefly stop: %v\n%s", err, out)
	}
	if err := master.wait(t, 10*time.Second); err != nil {
		t.Errorf("master exited with %v", err)
	}
}
