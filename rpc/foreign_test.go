package rpc_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// fakeRemote records what a *Ref made by NewRemoteRef passes to it.
type fakeRemote struct {
	mu       sync.Mutex
	calls    []string
	released int
	notified int
}

func (f *fakeRemote) Call(ctx context.Context, method string, reply any, args []any) error {
	f.mu.Lock()
	f.calls = append(f.calls, "call "+method)
	f.mu.Unlock()
	if p, ok := reply.(*int); ok && len(args) == 1 {
		*p = args[0].(int) * 2
	}
	if method == "fail" {
		return rpc.NewRemoteError("builtins.KeyError", "k", "", false, rpc.ErrNoSuchMethod)
	}
	return nil
}

func (f *fakeRemote) Send(ctx context.Context, method string, args []any) error {
	f.mu.Lock()
	f.calls = append(f.calls, "send "+method)
	f.mu.Unlock()
	return nil
}

func (f *fakeRemote) Release() {
	f.mu.Lock()
	f.released++
	f.mu.Unlock()
}

func (f *fakeRemote) NotifyOnDisconnect(fn func(error)) func() {
	f.mu.Lock()
	f.notified++
	f.mu.Unlock()
	return func() {}
}

func (f *fakeRemote) String() string { return "fake" }

func TestRemoteRefRoutesEveryMethod(t *testing.T) {
	ctx := testutil.Context(t)
	f := &fakeRemote{}
	r := rpc.NewRemoteRef(f)
	if r.Conn() != nil {
		t.Errorf("Conn() = %v, want nil", r.Conn())
	}
	if r.Remote() != f {
		t.Errorf("Remote() = %v, want the fake", r.Remote())
	}
	if r.String() != "fake" {
		t.Errorf("String() = %q", r.String())
	}
	var n int
	if err := r.Call(ctx, "double", &n, 21); err != nil || n != 42 {
		t.Errorf("Call = %v, %d; want nil, 42", err, n)
	}
	var m int
	call := <-r.Go(ctx, "double", &m, nil, 5).Done
	if call.Error != nil || m != 10 {
		t.Errorf("Go = %v, %d; want nil, 10", call.Error, m)
	}
	if err := r.Send(ctx, "poke"); err != nil {
		t.Errorf("Send: %v", err)
	}
	err := r.Call(ctx, "fail", nil)
	var re *rpc.RemoteError
	if !errors.As(err, &re) || re.Type != "builtins.KeyError" || !errors.Is(err, rpc.ErrNoSuchMethod) {
		t.Errorf("Call(fail) = %v; want a *RemoteError matching ErrNoSuchMethod", err)
	}
	r.NotifyOnDisconnect(func(error) {})
	r.Release()
	want := []string{"call double", "call double", "send poke", "call fail"}
	if !reflect.DeepEqual(f.calls, want) || f.released != 1 || f.notified != 1 {
		t.Errorf("fake saw %v, %d releases, %d notifies; want %v, 1, 1", f.calls, f.released, f.notified, want)
	}
}

// A *Ref of another wire cannot be passed over this package's connections.
func TestRemoteRefRefusedOnFireflyWire(t *testing.T) {
	ctx := testutil.Context(t)
	_, conn := pair(t, &refTaker{}, nil)
	err := conn.Root().Call(ctx, "take", nil, rpc.NewRemoteRef(&fakeRemote{}))
	if !errors.Is(err, rpc.ErrForeignReference) {
		t.Errorf("passing a foreign *Ref: %v, want ErrForeignReference", err)
	}
}

type refTaker struct{}

func (*refTaker) RemoteTake(r *rpc.Ref) {}

func TestPassedByReference(t *testing.T) {
	type two struct{ rpc.Referenceable }
	for _, c := range []struct {
		t    reflect.Type
		want bool
	}{
		{reflect.TypeFor[*rpc.Ref](), true},
		{reflect.TypeFor[*two](), true},
		{reflect.TypeFor[int](), false},
		{reflect.TypeFor[[]any](), false},
	} {
		if got := rpc.PassedByReference(c.t); got != c.want {
			t.Errorf("PassedByReference(%s) = %v, want %v", c.t, got, c.want)
		}
	}
}
