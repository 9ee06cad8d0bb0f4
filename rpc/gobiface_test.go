package rpc_test

import (
	"encoding/gob"
	"errors"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// IfaceHeld is a concrete type that only ever travels inside an interface
// field, so gob describes it in the middle of the value that holds it.
type IfaceHeld struct {
	N    int
	Name string
}

// IfaceHeldR is IfaceHeld's twin for results, so that each direction meets
// the type for the first time on its lane.
type IfaceHeldR struct {
	N    int
	Name string
}

// IfaceOut is what a sender sends: an int and an interface holding a
// registered type.
type IfaceOut struct {
	X int
	A any
}

// IfaceWrongX shares IfaceOut's fields but X is a string: gob refuses an
// IfaceOut into it before it reaches A.
type IfaceWrongX struct {
	X string
	A any
}

type ifaceRoot struct{}

func (ifaceRoot) RemoteWrong(v IfaceWrongX)  {}
func (ifaceRoot) RemoteRight(v IfaceOut) any { return v.A }
func (ifaceRoot) RemoteGive() IfaceOut       { return IfaceOut{X: 7, A: IfaceHeldR{N: -3, Name: "x"}} }

// TestGobInterfaceTypeInRefusedValue sends a value whose interface field
// holds a type its lane has not described yet, into a receiver type gob
// refuses before it reaches that field, then uses the type again on the same
// lane. gob's Encoder describes such a type inside the value, splitting it
// into several gob messages; the refused decode must neither leave part of
// the value unread (the connection would be closed for stray bytes) nor
// lose the description (the next value using the type would fail).
func TestGobInterfaceTypeInRefusedValue(t *testing.T) {
	gob.Register(IfaceHeld{})
	gob.Register(IfaceHeldR{})
	_, conn := pair(t, ifaceRoot{}, nil)
	ctx := testutil.Context(t)
	root := conn.Root()

	v := IfaceOut{X: 7, A: IfaceHeld{N: -3, Name: "x"}}
	err := root.Call(ctx, "wrong", nil, v)
	if !errors.Is(err, rpc.ErrBadArguments) {
		t.Fatalf("argument into a type gob refuses: got %v, want ErrBadArguments", err)
	}
	var got any
	if err := root.Call(ctx, "right", &got, v); err != nil {
		t.Fatalf("the next call on the lane: %v", err)
	}
	if got != (IfaceHeld{N: -3, Name: "x"}) {
		t.Fatalf("the next call on the lane returned %#v", got)
	}

	var wrong IfaceWrongX
	err = root.Call(ctx, "give", &wrong)
	if !errors.Is(err, rpc.ErrBadReply) {
		t.Fatalf("result into a type gob refuses: got %v, want ErrBadReply", err)
	}
	var right IfaceOut
	if err := root.Call(ctx, "give", &right); err != nil {
		t.Fatalf("the next result on the lane: %v", err)
	}
	if want := (IfaceOut{X: 7, A: IfaceHeldR{N: -3, Name: "x"}}); right != want {
		t.Fatalf("the next result on the lane: %#v, want %#v", right, want)
	}
	if err := conn.Err(); err != nil {
		t.Fatalf("the connection ended: %v", err)
	}
}
