package pb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// FireflyRoot returns a PB root object through which Python Firefly nodes
// (firefly.distributed.node.RemoteObject) join root unchanged. Serve it with
// NewServer on the port the nodes connect to:
//
//	srv, _ := pb.NewServer(pb.FireflyRoot(root))
//	go srv.Serve(ln)
//
// It answers Firefly's two calls:
//
//   - takeProxy(name, proxy): proxy becomes the child name of root
//     (distributed.Root.TakeProxy), with the same-name and hook rules as Go nodes.
//     The root's calls on the child (Child.Call, Root.CallChild, Broadcast)
//     go to the node as proxy.callRemote('callChild', command, *args,
//     **kw), a command that is a decimal string going as the int. Dropping
//     or replacing the child closes its connection.
//   - callTarget(command, *args, **kw): runs command of root's Service, its
//     arguments converted into the target's parameter types.
func FireflyRoot(root *distributed.Root) any { return &fireflyRoot{r: root} }

type fireflyRoot struct{ r *distributed.Root }

// RemoteTakeProxy is Firefly's remote_takeProxy; it returns None, as
// Firefly's does.
func (f *fireflyRoot) RemoteTakeProxy(ctx context.Context, name string, proxy *rpc.Ref) error {
	rr, ok := proxy.Remote().(*remoteRef)
	if !ok {
		return rpc.Expected(fmt.Errorf("%w: takeProxy needs the node's proxy reference", rpc.ErrBadArguments))
	}
	_, err := f.r.TakeProxy(ctx, name, rpc.NewRemoteRef(&commandRemote{ref: proxy, via: "callChild", conn: rr.c}))
	for _, r := range nameRefusals {
		if errors.Is(err, r.err) {
			return rpc.Expected(newRemoteError(r.typ, err.Error(), "", append([]string{r.typ, pyPBError}, pyBase...)))
		}
	}
	return err
}

// nameRefusals are a root's refusals of a node's name, sent as failures of
// these classes (pb.Error subclasses to Python) so that a Go node
// (NodeDialer) gets the sentinel back.
var nameRefusals = []struct {
	typ string
	err error
}{
	{"firefly.NameTaken", distributed.ErrNameTaken},
	{"firefly.IdentityMismatch", distributed.ErrIdentityMismatch},
}

// nameRefusal makes a root's refusal of a node's name match its sentinel.
func nameRefusal(err error) error {
	var re *RemoteError
	if !errors.As(err, &re) {
		return err
	}
	for _, r := range nameRefusals {
		if re.Check(r.typ) != "" {
			return fmt.Errorf("%w: %w", r.err, err)
		}
	}
	return err
}

// RemoteCallTarget is Firefly's remote_callTarget.
func (f *fireflyRoot) RemoteCallTarget(ctx context.Context, kw Kwargs, command any, args ...any) (any, error) {
	return callTarget(ctx, f.r.Service(), command, kw, args)
}

// callTarget runs command of svc with arguments from a PB peer, converted
// into the target's parameter types.
func callTarget(ctx context.Context, svc *distributed.Service, command any, kw Kwargs, args []any) (any, error) {
	if b, ok := command.([]byte); ok { // a Python 2 str
		command = string(b)
	}
	m := svc.Target(command)
	if m == nil {
		return nil, fmt.Errorf("%w: no target %v", rpc.ErrNoSuchMethod, command)
	}
	if len(kw) > 0 {
		if n := len(m.Params); n == 0 || m.Params[n-1] != kwargsType {
			return nil, fmt.Errorf("%w: target %v takes no keyword arguments", rpc.ErrBadArguments, command)
		}
		args = append(args, kw)
	}
	in := make([]any, len(args))
	for i, a := range args {
		if i >= len(m.Params) && !m.Variadic {
			in[i] = a // the count is checked by CallTarget
			continue
		}
		t := paramType(m, i)
		if t == refType || t == kwargsType {
			in[i] = a
			continue
		}
		v, err := convertTo(a, t)
		if err != nil {
			return nil, fmt.Errorf("%w: argument %d of target %v: %w", rpc.ErrBadArguments, i+1, command, err)
		}
		in[i] = v.Interface()
	}
	var reply any
	err := svc.CallTarget(ctx, command, &reply, in...)
	return reply, err
}

// commandRemote is the rpc.Remote of a Firefly object whose commands go
// through one method: a Python Firefly node's ProxyReference (a call of
// command goes as callChild(command, ...)), or a Firefly root (callTarget).
// A command that is a decimal string goes as the int: Firefly's
// CommandService keys are ints.
type commandRemote struct {
	ref  *rpc.Ref
	via  string
	conn *Conn
}

func (c *commandRemote) Call(ctx context.Context, method string, reply any, args []any) error {
	return c.ref.Call(ctx, c.via, reply, c.args(method, args)...)
}

func (c *commandRemote) Send(ctx context.Context, method string, args []any) error {
	return c.ref.Send(ctx, c.via, c.args(method, args)...)
}

func (c *commandRemote) args(method string, args []any) []any {
	var cmd any = method
	if n, err := strconv.ParseInt(method, 10, 64); err == nil {
		cmd = n
	}
	return append([]any{cmd}, args...)
}

func (c *commandRemote) Release() { c.ref.Release() }

func (c *commandRemote) NotifyOnDisconnect(f func(error)) func() { return c.ref.NotifyOnDisconnect(f) }

func (c *commandRemote) String() string { return "pb." + c.via + "(" + c.ref.String() + ")" }

// Close closes the connection the object lives on (a root dropped or
// replaced the node).
func (c *commandRemote) Close() error { return c.conn.Close() }

// LocalAddr and RemoteAddr are the two ends of the connection the object
// lives on: a root learns where a PB child is (distributed.Child.Ref's
// Remote) as it does from a firefly child's Conn.
func (c *commandRemote) LocalAddr() net.Addr  { return c.conn.LocalAddr() }
func (c *commandRemote) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// fireflyProxy is the node's ProxyReference: remote_callChild runs a
// target of its service.
type fireflyProxy struct {
	rpc.Referenceable
	svc *distributed.Service
}

// RemoteCallChild is Firefly's ProxyReference.remote_callChild.
func (p *fireflyProxy) RemoteCallChild(ctx context.Context, kw Kwargs, command any, args ...any) (any, error) {
	return callTarget(ctx, p.svc, command, kw, args)
}
