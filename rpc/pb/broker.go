package pb

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"reflect"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc"
)

// handle runs one command of the peer (PB-WIRE.md §5), on the reading
// goroutine, in arrival order. An error closes the connection with it as the
// reason.
func (c *Conn) handle(cmd any) error {
	l, ok := cmd.([]any)
	if !ok || len(l) == 0 {
		return protocolErrorf("a top-level expression is a %s, not a command", bananaKind(cmd))
	}
	name, ok := l[0].([]byte)
	if !ok {
		return protocolErrorf("a command's name is a %s, not a string", bananaKind(l[0]))
	}
	switch string(name) {
	case "version":
		if len(l) != 2 {
			return protocolErrorf("version with %d fields", len(l)-1)
		}
		if v, ok := l[1].(int64); !ok || v != brokerVersion {
			return protocolErrorf("the peer speaks PB version %v, this broker %d", l[1], brokerVersion)
		}
		return nil
	case "message":
		return c.onMessage(l, false)
	case "cachemessage":
		return c.onMessage(l, true)
	case "answer", "error":
		return c.onAnswer(l, string(name) == "error")
	case "decref":
		id, err := oneInt(l)
		if err != nil {
			return err
		}
		if !c.exports.Release(id, 1) {
			return protocolErrorf("decref of object %d, which this side does not export", id)
		}
		return nil
	case "decache":
		return protocolErrorf("decache of cache %v: this side sends no Cacheables", l[1:])
	case "uncache":
		id, err := oneInt(l)
		if err != nil {
			return err
		}
		c.caches.uncache(id)
		return nil
	case "didNotUnderstand":
		c.log.Warn("pb: the peer did not understand a command", "remote", c.RemoteAddr(), "command", fmt.Sprint(l[1:]))
		return nil
	}
	return protocolErrorf("unknown command %q", name)
}

func oneInt(l []any) (int64, error) {
	if len(l) != 2 {
		return 0, protocolErrorf("%s with %d fields, want 1", l[0], len(l)-1)
	}
	id, ok := l[1].(int64)
	if !ok {
		return 0, protocolErrorf("%s of a %s, not an integer id", l[0], bananaKind(l[1]))
	}
	return id, nil
}

// onMessage resolves a call's target and method and converts its arguments,
// in wire order (a decref right behind the message must not overtake it),
// then hands the handler to a handler goroutine (dispatch).
func (c *Conn) onMessage(l []any, cache bool) error {
	if len(l) != 7 {
		return protocolErrorf("%s with %d fields, want 6", l[0], len(l)-1)
	}
	reqID, ok1 := l[1].(int64)
	method, ok2 := l[3].([]byte)
	answer, ok3 := l[4].(int64)
	if !ok1 || !ok2 || !ok3 {
		return protocolErrorf("%s fields of the wrong types: %s, %s, %s", l[0], bananaKind(l[1]), bananaKind(l[3]), bananaKind(l[4]))
	}
	want := answer != 0
	h := c.readerHooks()
	defer h.clear()
	args, kw, jerr := c.unjellyCall(l[5], l[6], h)

	var t *target
	switch id := l[2].(type) {
	case []byte:
		if string(id) == "root" && !cache {
			t = c.root
		}
	case int64:
		if !cache {
			t = c.exports.Get(id)
		} else if c.caches.has(id) {
			h.releaseAll()
			c.refuse(reqID, want, fmt.Errorf("%w: observe_%s (Cacheable copies are not observed)", rpc.ErrNoSuchMethod, method), string(method))
			return nil
		}
	default:
		return protocolErrorf("%s to an object id that is a %s", l[0], bananaKind(l[2]))
	}
	if t == nil {
		h.releaseAll()
		c.refuse(reqID, want, rpc.ErrNoSuchObject, string(method))
		return nil
	}
	m := t.lookup(string(method))
	if m == nil {
		h.releaseAll()
		c.refuse(reqID, want, rpc.ErrNoSuchMethod, string(method))
		return nil
	}
	var in []reflect.Value
	if jerr == nil {
		in, jerr = c.params(m, args, kw)
	}
	if jerr != nil {
		t.abandon(m)
		h.releaseAll()
		c.refuse(reqID, want, jerr, string(method))
		return nil
	}
	if n := c.handlers.Add(1); int(n) > c.opts.maxHandlers {
		c.handlers.Add(-1)
		t.abandon(m)
		h.releaseAll()
		c.refuse(reqID, want, fmt.Errorf("%w: %d handlers running", rpc.ErrOverloaded, n-1), string(method))
		return nil
	}
	c.dispatch(handlerJob{t: t, m: m, in: in, reqID: reqID, want: want})
	return nil
}

// unjellyCall unjellies a message's args (a tuple) and kw (a dictionary).
func (c *Conn) unjellyCall(argSexp, kwSexp any, h *hooks) ([]any, *Dict, error) {
	args, flat := flatTuple(argSexp) // its items are their own values
	if !flat {
		a, err := unjelly(argSexp, h, defaultBananaLimits)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: arguments: %w", rpc.ErrBadArguments, err)
		}
		switch a := a.(type) {
		case Tuple:
			args = a
		case []any:
			args = a
		default:
			return nil, nil, fmt.Errorf("%w: arguments are a %T, not a tuple", rpc.ErrBadArguments, a)
		}
	}
	var k any
	var err error
	if !emptyDict(kwSexp) { // no keyword arguments: no dictionary to build
		k, err = unjelly(kwSexp, h, defaultBananaLimits)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: keyword arguments: %w", rpc.ErrBadArguments, err)
	}
	kw, ok := k.(*Dict)
	if !ok && k != nil {
		return nil, nil, fmt.Errorf("%w: keyword arguments are a %T, not a dictionary", rpc.ErrBadArguments, k)
	}
	return args, kw, nil
}

// flatTuple returns the items of sexp when it is a tuple of integers,
// floats and byte strings, which unjelly to themselves.
func flatTuple(sexp any) ([]any, bool) {
	l, ok := sexp.([]any)
	if !ok || len(l) == 0 {
		return nil, false
	}
	if tag, ok := l[0].([]byte); !ok || string(tag) != tagTuple {
		return nil, false
	}
	for _, e := range l[1:] {
		switch e.(type) {
		case int64, float64, []byte, *big.Int:
		default:
			return nil, false
		}
	}
	return l[1:], true
}

// emptyDict reports whether sexp is ['dictionary'], an empty dictionary.
func emptyDict(sexp any) bool {
	l, ok := sexp.([]any)
	if !ok || len(l) != 1 {
		return false
	}
	tag, ok := l[0].([]byte)
	return ok && string(tag) == tagDictionary
}

// refuse answers a call the broker could not run (when an answer is wanted).
func (c *Conn) refuse(reqID int64, want bool, err error, method string) {
	if !want {
		c.log.Debug("pb: one-way call refused", "remote", c.RemoteAddr(), "method", method, "err", err)
		return
	}
	f, _ := failureOf(err, method)
	c.sendFailure(context.Background(), reqID, failureValue(f, false), false)
}

// serve runs one handler and answers it.
func (c *Conn) serve(t *target, m *registry.Method, in []reflect.Value, reqID int64, want bool) {
	defer c.handlers.Add(-1)
	res, err := t.Call(c.ctx, m, in)
	if err != nil {
		var pe *registry.PanicError
		if errors.As(err, &pe) && !errors.Is(err, rpc.ErrPanic) {
			err = fmt.Errorf("%w: %w", rpc.ErrPanic, err)
		}
	}
	if err == nil && want {
		err = c.sendResult(reqID, res)
	}
	if err == nil {
		return
	}
	f, expected := failureOf(err, m.Name)
	if !expected {
		c.log.Error("pb: handler failed", "remote", c.RemoteAddr(), "method", m.Name, "err", err)
	}
	if want {
		c.sendFailure(c.ctx, reqID, failureValue(f, c.opts.unsafeTracebacks), true)
	}
}

// sendFailure answers reqID with an error command.
func (c *Conn) sendFailure(ctx context.Context, reqID int64, f *Failure, wait bool) {
	sexp, err := jelly(f, &hooks{c: c}, c.opts.py2Strings)
	if err != nil { // a failure is strings only: this cannot happen
		c.log.Error("pb: cannot jelly a failure", "err", err)
		return
	}
	c.sendAnswer(ctx, "error", reqID, sexp, wait)
}

// sendResult answers reqID with a handler's result.
func (c *Conn) sendResult(reqID int64, res reflect.Value) error {
	var v any
	if res.IsValid() {
		var err error
		if v, err = c.toPython(res); err != nil {
			return fmt.Errorf("%w: %w", rpc.ErrBadReply, err)
		}
	}
	var h *hooks // only a value that is not flat can export objects
	var err error
	sexp, flat := jellyFlat(v, c.opts.py2Strings)
	if !flat {
		h = &hooks{c: c}
		sexp, err = jelly(v, h, c.opts.py2Strings)
	}
	if err == nil {
		err = c.sendAnswer(c.ctx, "answer", reqID, sexp, true)
	}
	if err != nil {
		h.undoExports()
		if errors.Is(err, rpc.ErrConnectionLost) {
			return nil // no one to tell
		}
		return fmt.Errorf("%w: %w", rpc.ErrBadReply, err)
	}
	return nil
}

// call sends a message to the peer's object r and, when want is set, waits
// for its answer into reply.
func (c *Conn) call(ctx context.Context, r *remoteRef, method string, reply any, args []any, want bool) error {
	if r.released.Load() {
		return rpc.ErrReleased
	}
	if err := c.Err(); err != nil {
		return err
	}
	var kw Kwargs
	if n := len(args); n > 0 {
		if k, ok := args[n-1].(Kwargs); ok {
			kw, args = k, args[:n-1]
		}
	}
	var h *hooks // only arguments that are not scalars can export objects
	cargs := callArgs{scalars: args}
	if !c.scalarCall(args, kw) {
		h = &hooks{c: c}
		var err error
		cargs.scalars = nil
		if cargs.args, cargs.kw, err = c.jellyCall(args, kw, h); err != nil {
			h.undoExports()
			return err
		}
	}
	var p *pendingCall
	answer := int64(0)
	if want {
		// The objects passed stay exported until the answer is read, even
		// if the peer's decref comes first: a Twisted callee that returns
		// an argument sends ['decref', n] before its answer ['local', n].
		p = &pendingCall{reply: reply, done: make(chan struct{}), pins: c.exports.Hold(h.exportedIDs())}
		answer = 1
	}
	id, err := c.calls.add(p)
	if err != nil {
		h.undoExports()
		if p != nil {
			c.exports.Unhold(p.pins)
		}
		return err
	}
	if err := c.sendMessage(ctx, id, r, method, answer, cargs); err != nil {
		c.calls.drop(id)
		h.undoExports()
		if p != nil {
			c.exports.Unhold(p.pins)
		}
		return err
	}
	if !want {
		return nil
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		if c.calls.forget(id) {
			return ctx.Err()
		}
		<-p.done
	}
	return p.err
}

// scalarCall reports whether a call goes out as a tuple of scalars and no
// keyword arguments: every argument one jellyScalar takes (then
// appendJellyScalar encodes it straight from the Go value).
func (c *Conn) scalarCall(args []any, kw Kwargs) bool {
	if len(kw) > 0 {
		return false
	}
	for _, a := range args {
		if _, ok := jellyScalar(a, c.opts.py2Strings); !ok {
			return false
		}
	}
	return true
}

// jellyCall jellies a call's arguments as a tuple and its keyword arguments
// as a dictionary, each in its own serialization, as Twisted does.
func (c *Conn) jellyCall(args []any, kw Kwargs, h *hooks) (argSexp, kwSexp any, err error) {
	tuple := make(Tuple, len(args))
	for i, a := range args {
		if tuple[i], err = c.toPython(reflect.ValueOf(a)); err != nil {
			return nil, nil, fmt.Errorf("%w: argument %d: %w", rpc.ErrBadArguments, i+1, err)
		}
	}
	if argSexp, err = jelly(tuple, h, c.opts.py2Strings); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", rpc.ErrBadArguments, err)
	}
	d, err := c.kwargsDict(kw)
	if err != nil {
		return nil, nil, err
	}
	if kwSexp, err = jelly(d, h, c.opts.py2Strings); err != nil {
		return nil, nil, fmt.Errorf("%w: keyword arguments: %w", rpc.ErrBadArguments, err)
	}
	return argSexp, kwSexp, nil
}

// onAnswer completes the call an answer or error is for. The result is
// unjellied here, in wire order, so references in it are counted before any
// later decref or call is read.
func (c *Conn) onAnswer(l []any, isError bool) error {
	if len(l) != 3 {
		return protocolErrorf("%s with %d fields, want 2", l[0], len(l)-1)
	}
	id, ok := l[1].(int64)
	if !ok {
		return protocolErrorf("%s for a request id that is a %s", l[0], bananaKind(l[1]))
	}
	p, known := c.calls.take(id)
	if !known {
		return protocolErrorf("%s for request %d, which is not waiting", l[0], id)
	}
	h := c.readerHooks()
	defer h.clear()
	v, err := unjelly(l[2], h, defaultBananaLimits)
	c.exports.Unhold(p.pins)
	if p.forgotten {
		h.releaseAll() // the caller gave up: give the references back now
		return nil
	}
	switch {
	case err != nil:
		h.releaseAll()
		p.err = fmt.Errorf("%w: the peer's %s does not unjelly: %w", rpc.ErrBadReply, l[0], err)
	case isError:
		p.err = remoteErrorFrom(v)
	default:
		p.err = c.setReply(p.reply, v)
	}
	close(p.done)
	return nil
}
