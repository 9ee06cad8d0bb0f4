package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Delays between restarts of a failed child (launch's restart mode).
const (
	restartBase = 200 * time.Millisecond
	restartMax  = 10 * time.Second
	// restartStable is how long a restarted child must run for its next
	// failure to start the delays from restartBase again.
	restartStable = 30 * time.Second
)

// launch starts the master and the servers of the config at configPath
// that names lists as children (this binary with -master or -server
// NAME), shows their output prefixed with
// their names, and waits for all of them to exit (after "firefly stop", or
// a signal, which it passes on). childArgs (log flags, -dns) are passed
// on to every child.
//
// A child that fails (exits with a non-zero status or is killed) while the
// launch is not stopping is reported at once. By default the launch then
// stops: the other children get SIGTERM, and launch returns the failure.
// With restart, the failed child is started again after a delay that
// doubles with each failure in a row (restartBase up to restartMax), and
// launch goes on.
func launch(ctx context.Context, configPath string, names []string, childArgs []string, restart bool) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find this binary to start the children: %w", err)
	}
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	l := &launcher{exe: exe, out: &lineWriter{}, exits: make(chan exit, len(names))}
	for _, name := range names {
		args := []string{"-config", configPath}
		if name == "master" {
			args = append(args, "-master")
		} else {
			args = append(args, "-server", name)
		}
		args = append(args, childArgs...)
		c := &child{name: name, args: args, prefix: fmt.Sprintf("[%-*s] ", width, name)}
		if err := l.start(c); err != nil {
			l.stopAll()
			for l.running > 0 {
				l.exited(<-l.exits)
			}
			return err
		}
	}
	return l.run(ctx, restart)
}

// launcher holds a launch's children. Only run's goroutine (and launch's,
// before run) touches it; each child's waiting goroutine reports on exits.
type launcher struct {
	exe      string
	out      *lineWriter
	exits    chan exit
	children []*child
	running  int // children started and not yet reported on exits
	stopping bool
	failures []error
}

// child is a child process of the launch, started again by each restart.
type child struct {
	name, prefix string
	args         []string
	proc         *os.Process // the current process
	alive        bool        // started and not yet reported exited
	started      time.Time
	fails        int         // failures in a row, for the restart delay
	restart      *time.Timer // the restart scheduled, or nil
}

// exit reports that a child's process exited, with Wait's error.
type exit struct {
	c   *child
	err error
}

// run waits for the children, handling failures, until all have exited and
// no restart is scheduled.
func (l *launcher) run(ctx context.Context, restart bool) error {
	restarts := make(chan *child)
	sig := ctx.Done()
	var kill <-chan time.Time
	for l.running > 0 || l.restartPending() {
		select {
		case e := <-l.exits:
			l.exited(e)
			c := e.c
			if e.err == nil || l.stopping {
				continue
			}
			if time.Since(c.started) >= restartStable {
				c.fails = 0
			}
			c.fails++
			if !restart {
				l.out.printf(os.Stderr, "firefly: %s failed: %v; stopping every server\n", c.name, e.err)
				l.failures = append(l.failures, fmt.Errorf("%s: %w", c.name, e.err))
				l.stopAll()
				continue
			}
			d := restartDelay(c.fails)
			l.out.printf(os.Stderr, "firefly: %s failed: %v; restarting it in %v\n", c.name, e.err, d)
			c.restart = time.AfterFunc(d, func() { restarts <- c })
		case c := <-restarts:
			c.restart = nil
			if l.stopping {
				continue
			}
			if err := l.start(c); err != nil {
				l.out.printf(os.Stderr, "firefly: %v; stopping every server\n", err)
				l.failures = append(l.failures, err)
				l.stopAll()
			}
		case <-sig:
			// Pass the signal on: the children stop cleanly. Those that
			// take too long are killed.
			sig = nil
			l.stopAll()
			kill = time.After(15 * time.Second)
		case <-kill:
			for _, c := range l.children {
				if c.alive {
					c.proc.Kill()
				}
			}
		}
	}
	return errors.Join(l.failures...)
}

// exited records e.
func (l *launcher) exited(e exit) {
	e.c.alive = false
	l.running--
}

// restartPending reports whether a restart is scheduled.
func (l *launcher) restartPending() bool {
	for _, c := range l.children {
		if c.restart != nil {
			return true
		}
	}
	return false
}

// stopAll marks the launch stopping, cancels the restarts scheduled and
// sends every running child SIGTERM.
func (l *launcher) stopAll() {
	l.stopping = true
	for _, c := range l.children {
		// A timer that fired already has its restart on its way to run,
		// which drops it now that the launch is stopping.
		if c.restart != nil && c.restart.Stop() {
			c.restart = nil
		}
		if c.alive {
			c.proc.Signal(syscall.SIGTERM)
		}
	}
}

// restartDelay is the delay before the restart after fails failures in a
// row: restartBase, doubled for each failure after the first, up to
// restartMax.
func restartDelay(fails int) time.Duration {
	d := restartBase
	for i := 1; i < fails && d < restartMax; i++ {
		d *= 2
	}
	return min(d, restartMax)
}

// start starts c (again); its exit is reported on l.exits.
func (l *launcher) start(c *child) error {
	cmd := exec.Command(l.exe, c.args...)
	setPdeathsig(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", c.name, err)
	}
	if !slices.Contains(l.children, c) {
		l.children = append(l.children, c)
	}
	c.proc, c.alive, c.started = cmd.Process, true, time.Now()
	l.running++
	l.out.printf(os.Stderr, "%sstarted, pid %d\n", c.prefix, cmd.Process.Pid)
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { defer pipes.Done(); l.out.copy(os.Stdout, c.prefix, stdout) }()
	go func() { defer pipes.Done(); l.out.copy(os.Stderr, c.prefix, stderr) }()
	go func() {
		pipes.Wait() // Wait closes the pipes: read them to the end first
		err := cmd.Wait()
		l.out.printf(os.Stderr, "%sexited: %s\n", c.prefix, cmd.ProcessState)
		l.exits <- exit{c, err}
	}()
	return nil
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
