package distributed

import (
	"context"
	"fmt"
	"io"

	"github.com/fireflyrpc/firefly/rpc"
)

// Child is a node connected to a Root (Firefly's Child): its id, its name,
// the reference to its ProxyReference and the connection it came over. A
// Child is immutable and safe for concurrent use; when the node reconnects
// it becomes a new Child with a new id.
type Child struct {
	id   uint64
	name string
	ref  *rpc.Ref
	conn *rpc.Conn

	incarnation string // the node's incarnation id, from takeProxy
	stopNotify  func() // cancels the Root's disconnect watch; guarded by Root.mu
}

// NewChild returns a child with the given id and name whose calls go to ref,
// for use with a ChildManager of one's own. Root makes its children itself.
func NewChild(id uint64, name string, ref *rpc.Ref) *Child {
	c := &Child{id: id, name: name, ref: ref}
	if ref != nil {
		c.conn = ref.Conn()
	}
	return c
}

// close ends the child's connection: its Conn, or for a child on another
// wire its proxy's Remote when that is an io.Closer.
func (c *Child) close() {
	if c.conn != nil {
		c.conn.Close()
	} else if cl, ok := c.ref.Remote().(io.Closer); ok {
		cl.Close()
	}
}

// ID returns the child's id, unique within its Root.
func (c *Child) ID() uint64 { return c.id }

// Name returns the name the node connected with.
func (c *Child) Name() string { return c.name }

// Ref returns the reference to the node's ProxyReference.
func (c *Child) Ref() *rpc.Ref { return c.ref }

// Conn returns the connection the child came over: nil for a child that
// joined over another wire (Root.TakeProxy).
func (c *Child) Conn() *rpc.Conn { return c.conn }

// Incarnation returns the incarnation id the node sent with takeProxy
// (see Node.Incarnation), or "" if it sent none.
func (c *Child) Incarnation() string { return c.incarnation }

// String describes the child.
func (c *Child) String() string { return fmt.Sprintf("distributed.Child(%d %s)", c.id, c.name) }

// Call runs the target of command (a name or an int id) of the node's
// Service and stores its result in reply, a pointer, or nil to discard it
// (Firefly's callbackChild). Errors are as for Ref.Call; an unmapped command
// fails with an error matching ErrNoSuchMethod.
func (c *Child) Call(ctx context.Context, command any, reply any, args ...any) error {
	name, err := commandName(command)
	if err != nil {
		return err
	}
	return c.ref.Call(ctx, name, reply, args...)
}

// Go starts the call of command asynchronously, like Ref.Go.
func (c *Child) Go(ctx context.Context, command any, reply any, done chan *rpc.Call, args ...any) *rpc.Call {
	name, err := commandName(command)
	if err != nil {
		return complete(rpc.NewCall(fmt.Sprint(command), reply, done, args...), err)
	}
	return c.ref.Go(ctx, name, reply, done, args...)
}

// Send runs command on the node without waiting for, or getting, an answer,
// like Ref.Send.
func (c *Child) Send(ctx context.Context, command any, args ...any) error {
	name, err := commandName(command)
	if err != nil {
		return err
	}
	return c.ref.Send(ctx, name, args...)
}

// complete completes call with err (nil: success) and returns it.
func complete(call *rpc.Call, err error) *rpc.Call {
	call.Error = err
	call.Done <- call
	return call
}
