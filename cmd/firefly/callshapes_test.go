package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

// Place has the field shapes firefly call must build from JSON: pointers,
// time.Time, bytes, maps and a nested struct with a pointer field.
type Place struct {
	X, Y  float64
	Tag   *string
	At    time.Time
	Data  []byte
	Attrs map[string]string
	Inner *Inner
}

// Inner is nested in Place.
type Inner struct {
	N    int
	Name *string
}

// Checked is an int that validates itself: a plain int does not fit it.
type Checked int

func (c Checked) GobEncode() ([]byte, error) { return []byte(strconv.Itoa(int(c))), nil }
func (c *Checked) GobDecode(b []byte) error {
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 {
		return errors.New("Checked: bad value")
	}
	*c = Checked(n)
	return nil
}

// shapes serves one method per parameter and result shape.
type shapes struct{}

// when is the time RemoteNow returns.
var when = time.Date(2026, 12, 2, 1, 2, 3, 400, time.UTC)

func (shapes) RemotePlace(p Place) Place { p.X++; return p }
func (shapes) RemoteTag(p Place) string {
	if p.Tag == nil {
		return "nil"
	}
	return "tag " + *p.Tag
}
func (shapes) RemoteNow() time.Time                  { return when }
func (shapes) RemoteLater(t time.Time) time.Time     { return t.Add(time.Hour) }
func (shapes) RemoteBlob(b []byte) []byte            { return append(b, '!') }
func (shapes) RemoteMaybe(s *string) string          { return fmt.Sprint(s != nil && *s != "") }
func (shapes) RemoteDescribe(v any) string           { return fmt.Sprintf("%T %v", v, v) }
func (shapes) RemoteAnything(n int) any              { return []any{n}[0] }
func (shapes) RemoteCounts(m map[string][]int) int   { return len(m) }
func (shapes) RemoteWhere(m map[string]*Inner) Inner { return *m["here"] }
func (shapes) RemoteCheck(a int, c Checked) int      { return a + int(c) }
func (shapes) RemotePtr(n int) *Inner                { return &Inner{N: n} }

func serveShapes(t *testing.T) string {
	t.Helper()
	srv, err := rpc.NewServer(shapes{}, rpc.WithIntrospection(true))
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

// TestCallShapes calls a live server through the built binary with one
// parameter or result shape per case.
func TestCallShapes(t *testing.T) {
	bin := buildBinary(t)
	addr := serveShapes(t)
	run := func(method, args string) (string, string, error) {
		cmd := exec.Command(bin, "call", "-addr", addr, "-method", method, "-args", args)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return strings.TrimSpace(stdout.String()), stderr.String(), err
	}
	data := base64.StdEncoding.EncodeToString([]byte("hi"))
	cases := []struct{ name, method, args, want string }{
		{"pointer field set", "tag", `[{"X":1,"Y":2,"Tag":"t"}]`, `"tag t"`},
		{"pointer field omitted", "tag", `[{"X":1,"Y":2}]`, `"nil"`},
		{"pointer field null", "tag", `[{"X":1,"Y":2,"Tag":null}]`, `"nil"`},
		{"pointer parameter", "maybe", `["x"]`, `"true"`},
		{"pointer parameter null", "maybe", `[null]`, `"false"`},
		{"time.Time result", "now", `[]`, `"2026-12-02T01:02:03.0000004Z"`},
		{"time.Time argument", "later", `["2026-01-02T03:04:05Z"]`, `"2026-01-02T04:04:05Z"`},
		{"[]byte as base64", "blob", `["` + data + `"]`, `"` + base64.StdEncoding.EncodeToString([]byte("hi!")) + `"`},
		{"map of slices", "counts", `[{"a":[1],"b":[]}]`, `2`},
		{"map of struct pointers", "where", `[{"here":{"N":4,"Name":"h"}}]`, `{"N":4,"Name":"h"}`},
		{"nested struct, every field", "place",
			`[{"X":1,"Y":2,"Tag":"t","At":"2026-01-02T03:04:05Z","Data":"` + data + `","Attrs":{"k":"v"},"Inner":{"N":3,"Name":"in"}}]`,
			`{"X":2,"Y":2,"Tag":"t","At":"2026-01-02T03:04:05Z","Data":"` + data + `","Attrs":{"k":"v"},"Inner":{"N":3,"Name":"in"}}`},
		{"interface parameter, int", "describe", `[7]`, `"int 7"`},
		{"interface parameter, float", "describe", `[0.5]`, `"float64 0.5"`},
		{"interface parameter, string", "describe", `["s"]`, `"string s"`},
		{"interface parameter, null", "describe", `[null]`, `"<nil> <nil>"`},
		{"interface result", "anything", `[5]`, `5`},
		{"pointer result", "ptr", `[6]`, `{"N":6,"Name":""}`},
	}
	for _, c := range cases {
		out, errOut, err := run(c.method, c.args)
		if err != nil || out != c.want {
			t.Errorf("%s: call %s %s = %s, %v (%s); want %s", c.name, c.method, c.args, out, err, errOut, c.want)
		}
	}

	// A field the parameter's type lacks is an error naming it.
	_, errOut, err := run("tag", `[{"X":1,"C":2}]`)
	if err == nil || !strings.Contains(errOut, `unknown field "C"`) || !strings.Contains(errOut, "argument 1") {
		t.Errorf("unknown field: %v, %q; want an error naming field C of argument 1", err, errOut)
	}
	_, errOut, err = run("where", `[{"here":{"N":1,"Nmae":"typo"}}]`)
	if err == nil || !strings.Contains(errOut, `unknown field "Nmae"`) {
		t.Errorf("unknown nested field: %v, %q; want an error naming Nmae", err, errOut)
	}
	// Argument numbers are the server's: the server refuses argument 2 (a
	// plain int does not fit a type that decodes itself), the command line
	// refuses argument 2 (not a number), and both say "argument 2".
	_, errOut, err = run("check", `[1,2]`)
	if err == nil || !strings.Contains(errOut, "argument 2 of Check") {
		t.Errorf("server refusal: %v, %q; want argument 2 of Check", err, errOut)
	}
	_, errOut, err = run("check", `[1,"x"]`)
	if err == nil || !strings.Contains(errOut, "argument 2 is not a") {
		t.Errorf("command-line refusal: %v, %q; want argument 2", err, errOut)
	}
}
