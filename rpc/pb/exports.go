package pb

import (
	"context"
	"fmt"
	"reflect"

	"github.com/fireflyrpc/firefly/internal/broker"
	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc"
)

// target is a local object the peer can call: its dispatcher and the value
// it stands for (whose identity the export table keys on).
type target struct {
	rpc.Dispatcher
	val any
}

// newTarget makes a target of v: v itself when it is an rpc.Dispatcher (a
// Service, a ProxyReference), else its RemoteXxx method table, as on the
// firefly wire.
func newTarget(reg *registry.Registry, v any) (*target, error) {
	if d, ok := v.(rpc.Dispatcher); ok {
		return &target{Dispatcher: d, val: v}, nil
	}
	obj, err := reg.Object(v)
	if err != nil {
		return nil, err
	}
	return &target{Dispatcher: obj, val: v}, nil
}

// lookup finds the method a PB message names: the exposed name ("TakeTwo"),
// its lower-camel form ("takeTwo"), or a snake_case name ("take_two"), which
// Python code often uses for remote_ methods.
func (t *target) lookup(name string) *registry.Method {
	if m := t.Lookup(name); m != nil {
		return m
	}
	if camel, ok := snakeToCamel(name); ok {
		return t.Lookup(camel)
	}
	return nil
}

// snakeToCamel turns "take_two" into "takeTwo"; ok is false when name has no
// inner underscore.
func snakeToCamel(name string) (string, bool) {
	out := make([]byte, 0, len(name))
	changed := false
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if ch == '_' && i > 0 && i+1 < len(name) && name[i+1] != '_' {
			i++
			ch = name[i]
			if 'a' <= ch && ch <= 'z' {
				ch -= 'a' - 'A'
			}
			changed = true
		}
		out = append(out, ch)
	}
	return string(out), changed
}

// abandon tells a Dispatcher that wants to know that m will not be called.
func (t *target) abandon(m *registry.Method) {
	if a, ok := t.Dispatcher.(rpc.Abandoner); ok {
		a.Abandon(m)
	}
}

// exportTable holds the local objects the peer holds by reference, counting
// transmissions as Twisted does: each ['remote', luid] sent adds one, each
// ['decref', luid] received takes one, and the entry goes at zero. luids
// count from 1 per connection; the root is held apart ('root').
type exportTable = broker.Exports[int64, *target]

// initExports makes the connection's export table ready for max objects.
func (c *Conn) initExports(max int) {
	c.exports.Init(max, broker.ExportErrors{
		Lost:             rpc.ErrConnectionLost,
		NotReferenceable: rpc.ErrNotReferenceable,
		Full:             fmt.Errorf("%w (limit %d): Maximum PB reference count exceeded", rpc.ErrTooManyReferences, max),
	})
}

// export counts one more transmission of v to the peer and returns its luid.
func (c *Conn) export(v any) (int64, error) {
	return c.exports.Add(v, func(v any) (*target, error) { return newTarget(c.opts.registry, v) })
}

// localRemote is the rpc.Remote of a *Ref bound to one of this side's own
// objects that came home (['local', luid] received for a *rpc.Ref
// parameter): its calls run the object directly.
type localRemote struct {
	c *Conn
	t *target
}

func (l *localRemote) Call(ctx context.Context, method string, reply any, args []any) error {
	m := l.t.lookup(method)
	if m == nil {
		return fmt.Errorf("%w: %s", rpc.ErrNoSuchMethod, method)
	}
	in, err := rpc.LocalArgs(m, args)
	if err != nil {
		return err
	}
	res, err := l.t.Call(ctx, m, in)
	if err != nil || !res.IsValid() {
		return err
	}
	return rpc.SetReply(reply, res)
}

func (l *localRemote) Send(ctx context.Context, method string, args []any) error {
	go l.Call(context.WithoutCancel(ctx), method, nil, args)
	return nil
}

func (l *localRemote) Release() {}

func (l *localRemote) NotifyOnDisconnect(f func(error)) func() { return l.c.NotifyOnDisconnect(f) }

func (l *localRemote) String() string { return fmt.Sprintf("pb.Ref(local %T)", l.t.val) }

// paramType is the type argument i goes into: the parameter's, or the
// variadic slice's element type past the fixed parameters.
func paramType(m *registry.Method, i int) reflect.Type { return m.ArgType(i) }
