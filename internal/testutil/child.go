package testutil

import (
	"bufio"
	"os"
	"os/exec"
	"testing"
)

// Child is the running test binary started again as a helper process (a
// server, or clients), told its part by its environment. It prints lines for
// the benchmark that started it and runs until its standard input closes.
type Child struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
}

// StartChild starts the running test binary again, running no tests, with
// env (NAME=VALUE) added to its environment; the test's cleanup closes the
// child's standard input and waits for it to end.
func StartChild(tb testing.TB, env string) *Child {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	return &Child{cmd: cmd, lines: bufio.NewScanner(stdout)}
}

// Next returns the next line the child printed; it fails tb when the child
// ended instead.
func (c *Child) Next(tb testing.TB) string {
	tb.Helper()
	if !c.lines.Scan() {
		tb.Fatalf("child process ended: %v", c.lines.Err())
	}
	return c.lines.Text()
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }
