package rpc_test

import (
	"errors"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// PanicInner is embedded by pointer in PanicOuter.
type PanicInner struct{ A int }

// PanicOuter embeds a pointer to a struct: gob finds the promoted field A
// by name and panics decoding into it through the nil pointer.
type PanicOuter struct {
	*PanicInner
	B string
}

// PanicSender has the promoted field's name and a field that keeps it out
// of the inline record encoding, so it travels by gob.
type PanicSender struct {
	A int
	B string
	C []int
}

type panicRoot struct{}

func (panicRoot) RemoteTake(v PanicOuter) string { return v.B }
func (panicRoot) RemoteGive() PanicSender        { return PanicSender{A: 1, B: "b", C: []int{1}} }
func (panicRoot) RemoteEcho(x int) int           { return x }

// TestDecodePanicIsACallError: a value whose gob decoding panics fails that
// call (as argument: ErrBadArguments; as reply: ErrBadReply) and the
// connection, and the process, go on serving.
func TestDecodePanicIsACallError(t *testing.T) {
	_, conn := pair(t, panicRoot{}, nil)
	ctx := testutil.Context(t)
	root := conn.Root()
	for range 3 {
		var s string
		err := root.Call(ctx, "take", &s, PanicSender{A: 1, B: "b", C: []int{2}})
		if !errors.Is(err, rpc.ErrBadArguments) {
			t.Fatalf("take(PanicSender) = %q, %v; want ErrBadArguments", s, err)
		}
		var out PanicOuter
		err = root.Call(ctx, "give", &out)
		if !errors.Is(err, rpc.ErrBadReply) {
			t.Fatalf("give into PanicOuter = %+v, %v; want ErrBadReply", out, err)
		}
		var x int
		if err := root.Call(ctx, "echo", &x, 7); err != nil || x != 7 {
			t.Fatalf("echo after a decoding panic = %d, %v", x, err)
		}
		// A gob value of another type on the same lanes still decodes.
		if err := root.Call(ctx, "take", &s, PanicOuter{PanicInner: &PanicInner{A: 3}, B: "ok"}); err != nil || s != "ok" {
			t.Fatalf("take(PanicOuter) after a decoding panic = %q, %v", s, err)
		}
	}
}
