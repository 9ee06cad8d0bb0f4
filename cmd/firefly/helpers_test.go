package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc/netconnect"
)

// buildBinary builds this command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "firefly")
	start := time.Now()
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// ports of the example cluster's shape.
type ports struct{ masterRoot, masterWeb, gateRoot, netPort int }

// writeConfig writes the example cluster's config (gate; net, game1 and
// game2 joining it) with the master at rootHost and the given ports.
func writeConfig(t *testing.T, rootHost string, p ports) string {
	t.Helper()
	cfg := fmt.Sprintf(`{
  "master": {"roothost": %q, "rootport": %d, "webport": %d},
  "servers": {
    "gate": {"rootport": %d, "name": "gate", "app": "gate", "log": "logs/gate.log"},
    "net": {"netport": %d, "name": "net", "app": "net", "remoteport": [{"rootport": %d, "rootname": "gate"}]},
    "game1": {"name": "game1", "app": "game", "remoteport": [{"rootport": %d, "rootname": "gate"}], "reload": "x"},
    "game2": {"name": "game2", "app": "game", "remoteport": [{"rootname": "gate"}]}
  },
  "db": {"host": "localhost"},
  "memcached": {"urls": ["127.0.0.1:11211"]}
}`, rootHost, p.masterRoot, p.masterWeb, p.gateRoot, p.netPort, p.gateRoot, p.gateRoot)
	path := filepath.Join(t.TempDir(), "cluster.json")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// proc is a started process with its output.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
	err    error // once done is closed
}

// startProc starts argv[0] with the rest of argv; the test kills it at
// the end if it still runs, and shows its output if the test failed.
func startProc(t *testing.T, name string, argv ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{})}
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("---- %s (pid %d): %v\nstdout:\n%s\nstderr:\n%s", name, p.cmd.Process.Pid, p.err, p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

// kill kills the process and waits for it.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Kill()
	p.wait(t, 5*time.Second)
}

// wait waits for the process to exit and returns its error.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		t.Fatalf("%s still runs after %v", p.name, d)
		return nil
	}
}

// waitFor waits until the process's stdout or stderr holds s.
func (p *proc) waitFor(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.stdout.String(), s) && !strings.Contains(p.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q in %v", p.name, s, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count returns how many times stderr holds s.
func (p *proc) count(s string) int { return strings.Count(p.stderr.String(), s) }

// ask sends command 1001 "game player" to net's netport as a game client
// would, retrying until it answers or d passes.
func ask(t *testing.T, addr, game, player string, d time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		line, err := askOnce(ctx, addr, game, player, 2*time.Second)
		if err == nil {
			return line
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("ask %s for %s at %s: %v", game, player, addr, last)
	return ""
}

func askOnce(ctx context.Context, addr, game, player string, d time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	c, err := netconnect.Dial(ctx, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	line, err := c.Request(ctx, 1001, []byte(game+" "+player))
	return string(line), err
}
