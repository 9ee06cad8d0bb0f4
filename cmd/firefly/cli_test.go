package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// runBin runs the binary and returns its stdout, stderr and exit code.
func runBin(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// TestEverySubcommandHelpAndStrayArguments: -h prints the subcommand's
// usage and exits 0; a stray argument is a usage error (exit 2).
func TestEverySubcommandHelpAndStrayArguments(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	for _, name := range append([]string{""}, commandNames()...) {
		var args []string
		if name != "" {
			args = []string{name}
		}
		out, errOut, code := runBin(t, bin, append(args, "-h")...)
		usage := strings.TrimSpace("usage: firefly " + name)
		if code != 0 || !strings.Contains(out+errOut, usage) {
			t.Errorf("firefly %s -h: exit %d, output %q; want 0 and %q", name, code, out+errOut, usage)
		}
		_, errOut, code = runBin(t, bin, append(args, "-timeout", "1s", "stray")...)
		if name == "" {
			_, errOut, code = runBin(t, bin, "-config", "x.json", "stray")
		}
		if code != 2 || !strings.Contains(errOut, `unexpected argument "stray"`) {
			t.Errorf("firefly %s ... stray: exit %d, %q; want 2 and unexpected argument", name, code, errOut)
		}
	}
}

// TestCallTargetsOfACluster runs the example cluster with -introspect and a
// shared secret, and reaches it with the CLI: gate's service targets by
// server name (-config -server gate, secured by the config's section) and
// by address with -secret-file; net's netport with the game client.
func TestCallTargetsOfACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "cluster.secret")
	if err := os.WriteFile(secret, []byte("a-long-random-cluster-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testutil.FreePorts(t, 4)
	cfgPath := filepath.Join(dir, "cluster.json")
	cfg := fmt.Sprintf(`{
  "master": {"roothost": "127.0.0.1", "rootport": %d, "webport": %d},
  "servers": {
    "gate": {"rootport": %d, "app": "gate"},
    "net": {"netport": %d, "app": "net", "remoteport": [{"rootname": "gate"}]},
    "game1": {"app": "game", "remoteport": [{"rootname": "gate"}]},
    "game2": {"app": "game", "remoteport": [{"rootname": "gate"}]}
  },
  "security": {"secret_file": "cluster.secret"}
}`, p[0], p[1], p[2], p[3])
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	l := startProc(t, "launcher", bin, "-config", cfgPath, "-introspect")
	l.waitFor(t, "game2 welcomes alice", 20*time.Second)

	gateAddr := fmt.Sprintf("127.0.0.1:%d", p[2])
	ask := `["game2", "bob"]`
	want := `"gate -> game2 -> gate: game2 welcomes bob"` + "\n"
	for _, c := range []struct {
		name string
		args []string
		out  string
		code int
		err  string
	}{
		{"gate's targets by name", []string{"methods", "-config", cfgPath, "-server", "gate", "-targets"},
			"Ask(ctx, string, string) (string, error)\nForwarding(ctx, uint32, uint64, []uint8) ([]uint8, error)\nFrontendStats(ctx, string) (netconnect.Stats, error)\n", 0, ""},
		{"a target by name", []string{"call", "-config", cfgPath, "-server", "gate", "-target", "ask", "-args", ask}, want, 0, ""},
		{"a target by address and secret", []string{"call", "-addr", gateAddr, "-secret-file", secret, "-target", "Ask", "-args", ask}, want, 0, ""},
		{"no secret", []string{"call", "-addr", gateAddr, "-timeout", "3s", "-target", "ask", "-args", ask}, "", 1, "firefly:"},
		{"net's netport", []string{"client", "-addr", fmt.Sprintf("127.0.0.1:%d", p[3]), "-command", "1001", "-body", "game1 carol"},
			"net -> gate -> game1 -> gate -> net: game1 welcomes carol\n", 0, ""},
		{"no such server", []string{"methods", "-config", cfgPath, "-server", "nosuch"}, "", 1, "no such server"},
		{"a server without a root", []string{"methods", "-config", cfgPath, "-server", "game1", "-targets"}, "", 1, "has no rootport"},
		{"-method and -target", []string{"call", "-addr", gateAddr, "-method", "a", "-target", "b"}, "", 2, "one of -method and -target"},
		{"-server without -config", []string{"methods", "-server", "gate"}, "", 2, "-server needs -config"},
	} {
		out, errOut, code := runBin(t, bin, c.args...)
		if code != c.code || out != c.out || !strings.Contains(errOut, c.err) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d, %q, %q", c.name, code, out, errOut, c.code, c.out, c.err)
		}
	}
	if _, errOut, code := runBin(t, bin, "stop", "-config", cfgPath); code != 0 {
		t.Fatalf("firefly stop: %d %s", code, errOut)
	}
	if err := l.wait(t, 15*time.Second); err != nil {
		t.Fatalf("launcher: %v", err)
	}
}
