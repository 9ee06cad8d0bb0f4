package rpc_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// RecA is a record: a struct of built-in scalars only.
type RecA struct {
	X, Y int
	Name string
	On   bool
	F    float64
	U    uint16
}

// RecB shares two of RecA's field names, in another order and with other
// sizes, and has a field RecA lacks.
type RecB struct {
	Y     int64
	X     int8
	Extra string
}

// Gobbed is a struct of scalars that encodes itself: it goes through gob,
// which calls its methods, not inline.
type Gobbed struct{ N int }

func (g Gobbed) GobEncode() ([]byte, error) { return []byte(fmt.Sprint(g.N * 10)), nil }
func (g *Gobbed) GobDecode(b []byte) error {
	_, err := fmt.Sscan(string(b), &g.N)
	return err
}

type recRoot struct{}

func (recRoot) RemoteSwap(a RecA) RecA    { a.X, a.Y = a.Y, a.X; return a }
func (recRoot) RemoteTakeB(b RecB) string { return fmt.Sprintf("%d/%d/%q", b.X, b.Y, b.Extra) }
func (recRoot) RemoteInt(x int) int       { return x }
func (recRoot) RemoteGobbed(g Gobbed) int { return g.N }
func (recRoot) RemoteMakeB(x int64) RecB  { return RecB{Y: x, X: 1, Extra: "e"} }
func (recRoot) RemotePtr(p *RecA) (int, error) {
	if p == nil {
		return 0, errors.New("nil")
	}
	return p.X, nil
}

func TestRecords(t *testing.T) {
	_, conn := pair(t, recRoot{}, nil)
	ctx := testutil.Context(t)
	root := conn.Root()

	in := RecA{X: -3, Y: 1 << 40, Name: "firefly", On: true, F: -2.5, U: 65535}
	var out RecA
	if err := root.Call(ctx, "swap", &out, in); err != nil {
		t.Fatal(err)
	}
	if want := (RecA{X: 1 << 40, Y: -3, Name: "firefly", On: true, F: -2.5, U: 65535}); out != want {
		t.Fatalf("swap = %+v, want %+v", out, want)
	}
	// A pointer to a record goes as the record; a pointer parameter gets one.
	var x int
	if err := root.Call(ctx, "ptr", &x, &RecA{X: 7}); err != nil || x != 7 {
		t.Fatalf("ptr(&RecA{X: 7}) = %d, %v", x, err)
	}

	// Fields are matched by name, as gob matches them: RecB takes X and Y
	// from a RecA, and its Extra stays zero.
	var s string
	if err := root.Call(ctx, "takeB", &s, RecA{X: 5, Y: 6, Name: "skipped"}); err != nil || s != `5/6/""` {
		t.Fatalf("takeB(RecA) = %s, %v", s, err)
	}
	// The result too: a RecB answer into a RecA.
	var a RecA
	if err := root.Call(ctx, "makeB", &a, int64(9)); err != nil || a != (RecA{X: 1, Y: 9}) {
		t.Fatalf("makeB into RecA = %+v, %v", a, err)
	}

	// What does not fit fails the call, not the connection.
	for _, c := range []struct {
		method, why string
		arg         any
	}{
		{"takeB", "int8 overflow", RecA{X: 300}},
		{"takeB", "no field in common", struct{ Q int }{1}},
		{"takeB", "string into int", struct{ X string }{"x"}},
		{"int", "record into an int", RecA{}},
	} {
		err := root.Call(ctx, c.method, &s, c.arg)
		if !errors.Is(err, rpc.ErrBadArguments) {
			t.Errorf("%s (%s) = %v, want ErrBadArguments", c.method, c.why, err)
		}
	}
	if err := root.Call(ctx, "int", &a, 4); !errors.Is(err, rpc.ErrBadReply) {
		t.Errorf("an int result into *RecA = %v, want ErrBadReply", err)
	}
	if err := root.Call(ctx, "makeB", &x, int64(1)); !errors.Is(err, rpc.ErrBadReply) || !strings.Contains(err.Error(), "record") {
		t.Errorf("a record result into *int = %v, want ErrBadReply about a record", err)
	}

	// A type with its own gob encoding keeps it.
	if err := root.Call(ctx, "gobbed", &x, Gobbed{N: 4}); err != nil || x != 40 {
		t.Fatalf("gobbed = %d, %v; want 40 (its GobEncode ran)", x, err)
	}
	if err := root.Call(ctx, "int", &x, 8); err != nil || x != 8 {
		t.Fatalf("connection after the failed calls: %d, %v", x, err)
	}
}
