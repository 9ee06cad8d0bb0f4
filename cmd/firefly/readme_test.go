package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeSession returns the commands of the README's CLI session (the
// block after "With the example cluster running"), each with the output
// the README shows for it.
func readmeSession(t *testing.T, readme string) (cmds, outs []string) {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "With the example cluster running")
	if !ok {
		t.Fatal("README: no CLI session after \"With the example cluster running\"")
	}
	_, rest, _ = strings.Cut(rest, "```sh\n")
	block, _, _ := strings.Cut(rest, "```")
	var cont bool
	for line := range strings.SplitSeq(block, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case cont:
			cmds[len(cmds)-1] += " " + strings.TrimSuffix(line, "\\")
		case strings.HasPrefix(line, "$ "):
			cmds = append(cmds, strings.TrimSuffix(strings.TrimPrefix(line, "$ "), "\\"))
			outs = append(outs, "")
		case line != "" && len(outs) > 0:
			outs[len(outs)-1] += line + "\n"
		}
		cont = strings.HasSuffix(line, "\\")
	}
	return cmds, outs
}

// TestReadmeCLIExample runs the README's CLI example as written, in a
// network namespace of its own (the example's ports are fixed): pbdemo
// -serve and methods, then the example cluster with -introspect and the
// session's commands, each of which must print what the README shows.
func TestReadmeCLIExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs the example cluster")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds, outs := readmeSession(t, string(readme))
	if len(cmds) < 4 {
		t.Fatalf("README session: %d commands", len(cmds))
	}
	for _, want := range []string{
		"go build -o firefly ./cmd/firefly\n",
		"go run ./cmd/pbdemo -serve :8800 &\n  ./firefly methods -addr 127.0.0.1:8800\n",
		"prints `TakeTwo(ctx, *rpc.Ref) error`",
		"(`./firefly -config examples/cluster/config.json -introspect`)",
	} {
		if !strings.Contains(string(readme), want) {
			t.Fatalf("README lacks %q", want)
		}
	}
	ns := newNetns(t)
	host := ns.host("10.79.0.1")
	bin := buildBinary(t)
	pbdemo := filepath.Join(t.TempDir(), "pbdemo")
	if out, err := exec.Command("go", "build", "-o", pbdemo, "../pbdemo").CombinedOutput(); err != nil {
		t.Fatalf("go build pbdemo: %v\n%s", err, out)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	in := func(argv ...string) *exec.Cmd {
		cmd := exec.Command("ip", append([]string{"netns", "exec", host}, argv...)...)
		cmd.Dir = root
		return cmd
	}
	sh := func(line string) (string, error) {
		out, err := in("sh", "-c", strings.ReplaceAll(line, "./firefly ", bin+" ")).Output()
		return string(out), err
	}

	demo := startProc(t, "pbdemo", "ip", "netns", "exec", host, pbdemo, "-serve", ":8800")
	demo.waitFor(t, "serving One on", 10*time.Second)
	if out, err := sh("./firefly methods -addr 127.0.0.1:8800"); err != nil || out != "TakeTwo(ctx, *rpc.Ref) error\n" {
		t.Errorf("methods of pbdemo = %q, %v", out, err)
	}
	demo.kill(t)

	cluster := exec.Command("ip", "netns", "exec", host, bin, "-config", "examples/cluster/config.json", "-introspect")
	cluster.Dir = root
	c := &proc{name: "cluster", cmd: cluster, done: make(chan struct{})}
	cluster.Stdout, cluster.Stderr = &c.stdout, &c.stderr
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = cluster.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			cluster.Process.Kill()
			<-c.done
		}
	})
	c.waitFor(t, "game2 welcomes alice", 20*time.Second)
	for i, line := range cmds {
		out, err := sh(line)
		if err != nil || out != outs[i] {
			t.Errorf("README: %s\nprinted %q (%v)\nREADME shows %q", line, out, err, outs[i])
		}
	}
	if out, err := sh("./firefly stop -config examples/cluster/config.json"); err != nil {
		t.Errorf("stop: %v %s", err, out)
	}
	if err := c.wait(t, 15*time.Second); err != nil {
		t.Errorf("cluster: %v\n%s", err, c.stderr.String())
	}
}
