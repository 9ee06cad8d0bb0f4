package pb

import (
	"context"
	"fmt"
	"reflect"
	"sync"

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
type exportTable struct {
	mu    sync.Mutex
	byID  map[int64]*export
	byObj map[any]int64
	next  int64
	max   int
}

type export struct {
	obj   *target
	count int64
}

func (t *exportTable) init(max int) {
	t.byID = make(map[int64]*export)
	t.byObj = make(map[any]int64)
	t.max = max
}

// add counts one more transmission of v and returns its luid.
func (t *exportTable) add(reg *registry.Registry, v any) (int64, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return 0, fmt.Errorf("%w: %T must be passed as a non-nil pointer", rpc.ErrNotReferenceable, v)
	}
	t.mu.Lock()
	if t.byID == nil {
		t.mu.Unlock()
		return 0, rpc.ErrConnectionLost
	}
	if id, ok := t.byObj[v]; ok {
		t.byID[id].count++
		t.mu.Unlock()
		return id, nil
	}
	if len(t.byID) >= t.max {
		t.mu.Unlock()
		return 0, fmt.Errorf("%w (limit %d): Maximum PB reference count exceeded", rpc.ErrTooManyReferences, t.max)
	}
	t.mu.Unlock()
	obj, err := newTarget(reg, v) // reflection outside the lock
	if err != nil {
		return 0, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID == nil {
		return 0, rpc.ErrConnectionLost
	}
	if id, ok := t.byObj[v]; ok {
		t.byID[id].count++
		return id, nil
	}
	if len(t.byID) >= t.max {
		return 0, fmt.Errorf("%w (limit %d): Maximum PB reference count exceeded", rpc.ErrTooManyReferences, t.max)
	}
	t.next++
	t.byID[t.next] = &export{obj: obj, count: 1}
	t.byObj[v] = t.next
	return t.next, nil
}

// pin adds one to the count of each of ids (which were just exported), so
// they outlive the peer's decrefs until unpin; it returns ids.
func (t *exportTable) pin(ids []int64) []int64 {
	if len(ids) == 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		if e := t.byID[id]; e != nil {
			e.count++
		}
	}
	return ids
}

// unpin takes back what pin added.
func (t *exportTable) unpin(ids []int64) {
	for _, id := range ids {
		t.release(id)
	}
}

// get returns the exported object luid, or nil.
func (t *exportTable) get(id int64) *target {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byID[id]; e != nil {
		return e.obj
	}
	return nil
}

// targetOf returns the exported object whose value is v, or nil.
func (t *exportTable) targetOf(v any) *target {
	if v == nil || !reflect.TypeOf(v).Comparable() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.byObj[v]; ok {
		return t.byID[id].obj
	}
	return nil
}

// release takes one transmission of luid back; false for a luid that is not
// exported (Twisted's KeyError: a fatal peer error).
func (t *exportTable) release(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byID[id]
	if e == nil {
		return t.byID == nil // after close, late decrefs are harmless
	}
	e.count--
	if e.count == 0 {
		delete(t.byID, id)
		delete(t.byObj, e.obj.val)
	}
	return true
}

func (t *exportTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

func (t *exportTable) clear() {
	t.mu.Lock()
	t.byID, t.byObj = nil, nil
	t.mu.Unlock()
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
	in, err := goArgs(m, args)
	if err != nil {
		return err
	}
	res, err := l.t.Call(ctx, m, in)
	if err != nil {
		return err
	}
	if reply == nil || !res.IsValid() {
		return nil
	}
	rv := reflect.ValueOf(reply)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || !res.Type().AssignableTo(rv.Elem().Type()) {
		return fmt.Errorf("%w: %s result cannot be stored in %T", rpc.ErrBadReply, res.Type(), reply)
	}
	rv.Elem().Set(res)
	return nil
}

func (l *localRemote) Send(ctx context.Context, method string, args []any) error {
	go l.Call(context.WithoutCancel(ctx), method, nil, args)
	return nil
}

func (l *localRemote) Release() {}

func (l *localRemote) NotifyOnDisconnect(f func(error)) func() { return l.c.NotifyOnDisconnect(f) }

func (l *localRemote) String() string { return fmt.Sprintf("pb.Ref(local %T)", l.t.val) }

// goArgs converts Go arguments into m's parameters for a local call.
func goArgs(m *registry.Method, args []any) ([]reflect.Value, error) {
	n := len(m.Params)
	if (!m.Variadic && len(args) != n) || (m.Variadic && len(args) < n-1) {
		return nil, fmt.Errorf("%w: %s takes %d arguments, got %d", rpc.ErrBadArguments, m.Name, n, len(args))
	}
	in := make([]reflect.Value, n)
	var rest reflect.Value
	if m.Variadic {
		rest = reflect.MakeSlice(m.Params[n-1], 0, len(args)-(n-1))
	}
	for i, a := range args {
		pt := paramType(m, i)
		v := reflect.Zero(pt)
		if a != nil {
			v = reflect.ValueOf(a)
			if !v.Type().AssignableTo(pt) {
				return nil, fmt.Errorf("%w: argument %d of %s: %s is not %s", rpc.ErrBadArguments, i+1, m.Name, v.Type(), pt)
			}
		}
		if m.Variadic && i >= n-1 {
			rest = reflect.Append(rest, v)
		} else {
			in[i] = v
		}
	}
	if m.Variadic {
		in[n-1] = rest
	}
	return in, nil
}

// paramType is the type argument i goes into: the parameter's, or the
// variadic slice's element type past the fixed parameters.
func paramType(m *registry.Method, i int) reflect.Type {
	n := len(m.Params)
	if m.Variadic && i >= n-1 {
		return m.Params[n-1].Elem()
	}
	return m.Params[i]
}
