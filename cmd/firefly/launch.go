package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/fireflyrpc/firefly/rpc/cluster"
)

// launch starts the master and every server of cfg as children (this
// binary with -master or -server NAME), shows their output prefixed with
// their names, and waits for all of them to exit (after "firefly stop", or
// a signal, which it passes on). It fails if any child fails.
func launch(ctx context.Context, configPath string, cfg *cluster.Config, verbose bool) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find this binary to start the children: %w", err)
	}
	names := append([]string{"master"}, cfg.ServerNames()...)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	out := &lineWriter{}
	var children []*child
	var wg sync.WaitGroup
	for _, name := range names {
		args := []string{"-config", configPath}
		if name == "master" {
			args = append(args, "-master")
		} else {
			args = append(args, "-server", name)
		}
		if verbose {
			args = append(args, "-v")
		}
		prefix := fmt.Sprintf("[%-*s] ", width, name)
		c, err := startChild(exe, args, name, prefix, out, &wg)
		if err != nil {
			for _, c := range children {
				c.cmd.Process.Signal(syscall.SIGTERM)
			}
			wg.Wait()
			return err
		}
		children = append(children, c)
		out.printf(os.Stderr, "%sstarted, pid %d\n", prefix, c.cmd.Process.Pid)
	}

	// Pass a signal on; the children stop cleanly. A second one, or a
	// child that takes too long, kills them.
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-allDone:
	case <-ctx.Done():
		for _, c := range children {
			c.cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-allDone:
		case <-time.After(15 * time.Second):
			for _, c := range children {
				c.cmd.Process.Kill()
			}
			<-allDone
		}
	}
	var errs []error
	for _, c := range children {
		if c.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, c.err))
		}
	}
	return errors.Join(errs...)
}

// child is a started child process.
type child struct {
	name string
	cmd  *exec.Cmd
	err  error // set once it exited
}

func startChild(exe string, args []string, name, prefix string, out *lineWriter, wg *sync.WaitGroup) (*child, error) {
	cmd := exec.Command(exe, args...)
	setPdeathsig(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd}
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { defer pipes.Done(); out.copy(os.Stdout, prefix, stdout) }()
	go func() { defer pipes.Done(); out.copy(os.Stderr, prefix, stderr) }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		pipes.Wait() // Wait closes the pipes: read them to the end first
		c.err = cmd.Wait()
		out.printf(os.Stderr, "%sexited: %s\n", prefix, cmd.ProcessState)
	}()
	return c, nil
}

// lineWriter writes whole lines from several children, one at a time.
type lineWriter struct{ mu sync.Mutex }

func (w *lineWriter) copy(dst io.Writer, prefix string, src io.Reader) {
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		w.printf(dst, "%s%s\n", prefix, sc.Bytes())
	}
	io.Copy(io.Discard, src) // a line too long: drain the rest
}

func (w *lineWriter) printf(dst io.Writer, format string, args ...any) {
	w.mu.Lock()
	fmt.Fprintf(dst, format, args...)
	w.mu.Unlock()
}
