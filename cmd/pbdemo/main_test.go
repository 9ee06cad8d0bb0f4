package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// TestMain runs main when the test binary is started as the demo (by the
// tests below), so they run the real command without building it.
func TestMain(m *testing.M) {
	if os.Getenv("PBDEMO_RUN_MAIN") == "1" {
		os.Args = append([]string{"pbdemo"}, strings.Fields(os.Getenv("PBDEMO_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// twistedPython returns a Python 3 with Twisted, or skips (fails when
// FIREFLY_REQUIRE_TWISTED=1).
func twistedPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(py); err == nil && exec.Command(path, "-c", "import twisted.spread.pb").Run() == nil {
			return path
		}
	}
	if os.Getenv("FIREFLY_REQUIRE_TWISTED") == "1" {
		t.Fatal("FIREFLY_REQUIRE_TWISTED=1 but Twisted is not installed (apt-get install python3-twisted)")
	}
	t.Skip("Twisted is not installed (apt-get install python3-twisted)")
	return ""
}

// proc is a process whose output lines are collected.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s printed:\n%s", cmd.Args, strings.Join(p.output(), "\n"))
		}
	})
	return p
}

func (p *proc) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// waitLines waits until the process printed n lines (or exited).
func (p *proc) waitLines(t *testing.T, n int) []string {
	t.Helper()
	guard := time.After(60 * time.Second)
	for len(p.output()) < n {
		select {
		case <-p.done:
			return p.output()
		case <-guard:
			t.Fatalf("%s printed only %q", p.cmd.Args, p.output())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return p.output()
}

func demo(args string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "PBDEMO_RUN_MAIN=1", "PBDEMO_ARGS="+args)
	return cmd
}

// docsScript is a Twisted docs script from rpc/pb/testdata, its port 8800
// replaced by port.
func docsScript(t *testing.T, name string, port int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "rpc", "pb", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), "8800", strconv.Itoa(port), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// pbdemo -wire pb -connect is the seed's client against pb3server.py.
func TestPBDemoConnectsToTwisted(t *testing.T) {
	py := twistedPython(t)
	port := testutil.FreePorts(t, 1)[0]
	server := start(t, exec.Command(py, "-u", docsScript(t, "pb3server.py", port)))
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		nc, err := net.Dial("tcp", addr)
		if err == nil {
			nc.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pb3server.py does not listen: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	client := start(t, demo("-wire pb -connect "+addr))
	<-client.done
	want := []string{"got One: pb.Ref(root)", "giving it our two", "Two.print() called with 12"}
	if got := client.output(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pbdemo printed %q, want %q", got, want)
	}
	lines := server.waitLines(t, 2)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "received a Two called <twisted.spread.pb.RemoteReference object at ") ||
		lines[1] != "telling it to print(12)" {
		t.Errorf("pb3server.py printed %q", lines)
	}
}

// pbdemo -wire pb -serve is the seed's server for pb3client.py.
func TestPBDemoServesTwisted(t *testing.T) {
	py := twistedPython(t)
	port := testutil.FreePorts(t, 1)[0]
	server := start(t, demo("-wire pb -serve 127.0.0.1:"+strconv.Itoa(port)))
	if l := server.waitLines(t, 1); len(l) == 0 || !strings.HasPrefix(l[0], "serving One on") {
		t.Fatalf("pbdemo printed %q", l)
	}
	client := start(t, exec.Command(py, "-u", docsScript(t, "pb3client.py", port)))
	lines := client.waitLines(t, 3)
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "got One: <twisted.spread.pb.RemoteReference object at ") ||
		lines[1] != "giving it our two" || lines[2] != "Two.print() called with 12" {
		t.Errorf("pb3client.py printed %q", lines)
	}
	want := []string{"received a Two called pb.Ref(1)", "telling it to print(12)"}
	if got := server.waitLines(t, 3); strings.Join(got[1:], "\n") != strings.Join(want, "\n") {
		t.Errorf("pbdemo printed %q, want %q after its first line", got, want)
	}
}
