package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/fireflyrpc/firefly/internal/broker"
	"github.com/fireflyrpc/firefly/registry"
)

// Ref is a reference to an object on the other side of a connection: the
// peer's root (Conn.Root) or an object the peer passed by reference. It is
// PB's RemoteReference. The same remote object always arrives as the same *Ref
// while that *Ref is alive and unreleased.
//
// A *Ref passed back to its owner arrives there as the original object (or a
// *Ref bound to it, when the parameter is of type *Ref).
type Ref struct {
	conn     *Conn
	id       uint64
	entry    *broker.Import[Ref] // nil for the root and for local refs
	local    *target             // non-nil: a reference to one of our own objects
	remote   Remote              // non-nil: carried by another wire (foreign.go)
	released atomic.Bool
}

// Conn returns the connection the reference lives on: nil for a reference
// carried by another wire (see NewRemoteRef).
func (r *Ref) Conn() *Conn { return r.conn }

// String describes the reference.
func (r *Ref) String() string {
	switch {
	case r.remote != nil:
		return r.remote.String()
	case r.local != nil:
		return fmt.Sprintf("rpc.Ref(local %T)", r.local.Value())
	case r.id == rootID:
		return "rpc.Ref(root)"
	default:
		return fmt.Sprintf("rpc.Ref(%d)", r.id)
	}
}

// Call calls method on the remote object with args and waits for the answer,
// which it decodes into reply: a pointer, or nil to discard the result. The
// method name is the exposed name ("TakeTwo") or its lower-camel form
// ("takeTwo"). ctx's deadline and cancellation reach the handler; when ctx is
// done first, Call returns ctx's error at once and a late answer is dropped.
//
// A failing handler's error comes back as a *RemoteError; connection loss as
// an error matching ErrConnectionLost.
func (r *Ref) Call(ctx context.Context, method string, reply any, args ...any) error {
	if r.remote != nil || r.local != nil {
		return r.callElsewhere(ctx, method, reply, args)
	}
	q := getQuestion(reply)
	q.sess = r.conn.sess
	id, hold, err := r.conn.ask(ctx, r, method, args, q, true)
	if hold {
		id, err = r.conn.holdCall(ctx, r, method, args, id)
	}
	if err != nil {
		putQuestion(q)
		return err
	}
	if err := r.wait(ctx, id, q); err != nil {
		return err
	}
	if q.carry {
		// The credit this call's answer freed passed to a held call: send
		// it, and those queued with it.
		q.carry = false
		r.conn.carry()
	}
	err = q.err
	putQuestion(q)
	return err
}

// callElsewhere is Call on a reference to a foreign peer's object or to a
// local one. It is a function of its own, as wait is, so that Call's frame,
// on the path of every caller's first call, stays small.
//
//go:noinline
func (r *Ref) callElsewhere(ctx context.Context, method string, reply any, args []any) error {
	if r.remote != nil {
		// A copy, so that args itself never escapes on the other paths.
		return r.remote.Call(ctx, method, reply, append([]any(nil), args...))
	}
	return r.callLocal(ctx, method, reply, args)
}

// wait waits for the answer to question id, or gives the call up when ctx
// ends: then it returns ctx's error, and q is the pool's again. A call made
// with a handler's context, or one derived from it, gives the handler's
// worker's place to a queued call while it waits. It is a function of its own
// so that Call's frame, on the path of every caller's first call, stays
// small, and it holds the select itself, so that a freshly started caller
// waiting in it needs no more than its first stack.
//
//go:noinline
func (r *Ref) wait(ctx context.Context, id uint64, q *question) error {
	if ic, ok := ctx.(*incall); ok {
		ic.conn.waiting(ic)
		ic.wait(r.conn, id, q)
		ic.conn.resumed(ic)
		return nil
	}
	cancel := ctx.Done()
	if cancel == nil {
		// A context that never ends: no select needed, and the caller
		// may read its answer itself.
		r.conn.awaitAnswer(q)
		return nil
	}
	ic, _ := ctx.Value(incallKey{}).(*incall)
	if ic != nil {
		ic.conn.waiting(ic)
	}
	var err error
	if q.watched {
		r.conn.awaitAnswer(q) // the question table watches ctx for the call
	} else {
		r.conn.sess.WantInput()
		select {
		case <-q.done:
		case <-cancel:
			if ok, sent := r.conn.forget(id); ok {
				if sent {
					r.conn.queueCancel(id, ctx.Err())
				}
				putQuestion(q)
				err = ctx.Err()
			} else {
				<-q.done // the answer is being delivered
			}
		}
	}
	if ic != nil {
		ic.conn.resumed(ic)
	}
	return err
}

// Go calls method asynchronously, like net/rpc's Go. It returns the *Call at
// once; when the call completes, the same *Call is sent on done (a new
// channel with room for one is made when done is nil; an unbuffered done
// panics). done must have room for every call that completes on it: a
// completion that finds it full is dropped and logged, never waited for.
// ctx's cancellation abandons the call with ctx's error. Like Call, Go waits
// (bounded by ctx) while the peer already runs as many of this side's calls
// as it allows, and for a free lane.
func (r *Ref) Go(ctx context.Context, method string, reply any, done chan *Call, args ...any) *Call {
	call := NewCall(method, reply, done, args...)
	if r.remote != nil {
		return r.goRemote(ctx, call)
	}
	call.log = r.conn.log
	if r.local != nil {
		go func() {
			call.Error = r.callLocal(ctx, method, reply, args)
			call.finish()
		}()
		return call
	}
	q := &question{reply: reply, call: call}
	id, _, err := r.conn.ask(ctx, r, method, args, q, false)
	if err != nil {
		call.Error = err
		call.finish()
		return call
	}
	// Nobody waits in ReadUntil for the answer: the session's reader must
	// read it, even while the reader role lingers after another call.
	r.conn.sess.WantInput()
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			if ok, sent := r.conn.forget(id); ok {
				if sent {
					r.conn.queueCancel(id, ctx.Err())
				}
				call.Error = ctx.Err()
				call.finish()
			}
		})
		q.watch(stop)
	}
	return call
}

// Send calls method without waiting for, or getting, an answer: PB's
// callRemote with answerRequired=False. It returns once the call is on its
// way; the handler's result and error are dropped (the serving side logs
// unexpected errors).
func (r *Ref) Send(ctx context.Context, method string, args ...any) error {
	if r.remote != nil {
		return r.remote.Send(ctx, method, append([]any(nil), args...))
	}
	if r.local != nil {
		go r.callLocal(context.WithoutCancel(ctx), method, nil, args)
		return nil
	}
	_, _, err := r.conn.ask(ctx, r, method, args, nil, false)
	return err
}

// Release tells the owner that this side no longer needs the object, so the
// owner can drop it once every reference it sent is released. Calls on a
// released Ref fail with ErrReleased. Releasing twice, or releasing the root,
// does nothing. An unreachable Ref is released by the garbage collector as a
// backstop.
func (r *Ref) Release() {
	if r.remote != nil {
		r.remote.Release()
		return
	}
	if r.entry == nil {
		return
	}
	r.conn.imports.Drop(r.id, r.entry, &r.released)
}

// NotifyOnDisconnect arranges for f to be called, in its own goroutine, with
// the reason when the reference's connection is lost. The returned function
// cancels the notification.
func (r *Ref) NotifyOnDisconnect(f func(error)) (cancel func()) {
	if r.remote != nil {
		return r.remote.NotifyOnDisconnect(f)
	}
	return r.conn.NotifyOnDisconnect(f)
}

// callLocal runs a call on a local object that came home as a *Ref.
func (r *Ref) callLocal(ctx context.Context, method string, reply any, args []any) error {
	m := r.local.Lookup(method)
	if m == nil {
		return fmt.Errorf("%w: %s", ErrNoSuchMethod, method)
	}
	in, err := LocalArgs(m, args)
	if err != nil {
		return err
	}
	res, err := r.local.Call(ctx, m, in)
	if err != nil {
		var pe *registry.PanicError
		if errors.As(err, &pe) && !errors.Is(err, ErrPanic) {
			err = fmt.Errorf("%w: %w", ErrPanic, err)
		}
		return err
	}
	if !res.IsValid() {
		return nil
	}
	return SetReply(reply, res)
}
