// Package pyproc runs Python peer scripts for the interop tests: it finds a
// Python 3 that imports Twisted (failing the test instead of skipping it
// when FIREFLY_REQUIRE_TWISTED=1, as CI sets), starts scripts and waits for
// the lines they print.
package pyproc

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireTwisted names the environment variable that turns a missing
// Twisted from a skip into a failure (CI sets it).
const RequireTwisted = "FIREFLY_REQUIRE_TWISTED"

// Twisted returns a Python 3 that imports twisted.spread.pb: Debian's
// /usr/bin/python3 first (a python3 earlier on PATH may not see Debian's
// packages), then python3 on PATH. Without one the test is skipped with a
// message, or fails when RequireTwisted is set to 1.
func Twisted(t testing.TB) string {
	t.Helper()
	var tried []string
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		out, err := exec.Command(path, "-c", "import twisted.spread.pb").CombinedOutput()
		if err == nil {
			return path
		}
		tried = append(tried, fmt.Sprintf("%s: %v %s", path, err, strings.TrimSpace(string(out))))
	}
	msg := "Twisted is not installed (apt-get install python3-twisted); tried " + strings.Join(tried, "; ")
	if os.Getenv(RequireTwisted) == "1" {
		t.Fatalf("%s=1 but %s", RequireTwisted, msg)
	}
	t.Skip(msg)
	return ""
}

// Proc is a Python script running for a test; its output (stdout and
// stderr) is collected line by line.
type Proc struct {
	Cmd   *exec.Cmd
	name  string
	mu    sync.Mutex
	lines []string
	more  chan struct{} // signalled on each new line
	done  chan struct{} // closed when the process has exited
	err   error
}

// Start runs the script at path with python py and args, killing it when
// the test ends (and logging its output if the test failed).
func Start(t testing.TB, py, path string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(py, append([]string{"-u", path}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	p := &Proc{Cmd: cmd, name: path, more: make(chan struct{}, 1), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s output:\n%s", path, strings.Join(p.Output(), "\n"))
		}
	})
	return p
}

// Kill kills the process and waits for it to exit.
func (p *Proc) Kill() {
	p.Cmd.Process.Kill()
	<-p.done
}

// Output returns the lines printed so far.
func (p *Proc) Output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// WaitFor waits until the output holds a line for which match is true and
// returns it; the test fails when the process exits first, or after a
// generous hang guard.
func (p *Proc) WaitFor(t testing.TB, what string, match func(string) bool) string {
	t.Helper()
	guard := time.After(60 * time.Second)
	for {
		for _, l := range p.Output() {
			if match(l) {
				return l
			}
		}
		select {
		case <-p.more:
		case <-p.done:
			for _, l := range p.Output() {
				if match(l) {
					return l
				}
			}
			t.Fatalf("%s exited (%v) before %s", p.name, p.err, what)
		case <-guard:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Wait waits for the script to exit and returns its error.
func (p *Proc) Wait(t testing.TB) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(120 * time.Second):
		t.Fatal("python did not exit")
		return nil
	}
}
