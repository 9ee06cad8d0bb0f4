package main

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/fireflyrpc/firefly/rpc"
)

// Point is a struct argument the CLI must build from JSON.
type Point struct {
	X, Y int
	Tag  string
}

// calc is the server the client subcommands talk to.
type calc struct{}

func (calc) RemoteAdd(a, b int) int          { return a + b }
func (calc) RemoteMove(p Point, d int) Point { p.X += d; p.Y += d; return p }
func (calc) RemoteSum(xs ...float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}
func (calc) RemoteTags(m map[string][]int) int    { return len(m) }
func (calc) RemoteFail(ctx context.Context) error { return rpc.Expected(errMsg("no luck")) }

type errMsg string

func (e errMsg) Error() string { return string(e) }

func serveCalc(t *testing.T, introspect bool) string {
	t.Helper()
	srv, err := rpc.NewServer(calc{}, rpc.WithIntrospection(introspect))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestCallAndMethodsCommands(t *testing.T) {
	bin := buildBinary(t)
	addr := serveCalc(t, true)
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	out, errOut, err := run("methods", "-addr", addr)
	if err != nil {
		t.Fatalf("firefly methods: %v\n%s", err, errOut)
	}
	for _, want := range []string{"Add(int, int) int", "Move(main.Point, int) main.Point", "Sum(...float64) float64", "Fail(ctx) error"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("methods output lacks %q:\n%s", want, out)
		}
	}
	cases := []struct{ method, args, want string }{
		{"add", `[1,2]`, "3"},
		{"Move", `[{"X":1,"Y":2,"Tag":"p"},10]`, `{"X":11,"Y":12,"Tag":"p"}`},
		{"sum", `[0.5,1.5,2]`, "4"},
		{"sum", `[]`, "0"},
		{"tags", `[{"a":[1],"b":[]}]`, "2"},
		{"fail", `[]`, ""},
	}
	for _, c := range cases {
		out, errOut, err := run("call", "-addr", addr, "-method", c.method, "-args", c.args)
		if c.want == "" {
			if err == nil || !strings.Contains(errOut, "no luck") {
				t.Errorf("call %s: err %v, stderr %q; want the remote error", c.method, err, errOut)
			}
			continue
		}
		if err != nil || strings.TrimSpace(out) != c.want {
			t.Errorf("call %s %s = %q, %v (%s); want %s", c.method, c.args, out, err, errOut, c.want)
		}
	}
	// Bad input is refused with a clear message and status 2.
	_, errOut, err = run("call", "-addr", addr, "-method", "add", "-args", `[1]`)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(errOut, "takes 2 arguments") {
		t.Errorf("wrong argument count: %v, %q", err, errOut)
	}
	_, errOut, err = run("call", "-addr", addr, "-method", "add", "-args", `["x","y"]`)
	if err == nil || !strings.Contains(errOut, "argument 1 is not a int") {
		t.Errorf("wrong argument type: %v, %q", err, errOut)
	}
	_, errOut, err = run("call", "-addr", addr, "-method", "nope")
	if err == nil || !strings.Contains(errOut, "no such method") {
		t.Errorf("unknown method: %v, %q", err, errOut)
	}
	// Without introspection the server says nothing of its methods.
	_, errOut, err = run("methods", "-addr", serveCalc(t, false))
	if err == nil || !strings.Contains(errOut, "introspection") {
		t.Errorf("methods without introspection: %v, %q", err, errOut)
	}
}
