package rpc

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc/internal/wire"
)

// ask sends a call of method on r with args. With q non-nil the call expects
// an answer and q is registered under the returned request id before the
// message leaves; with q nil the call is one-way. With mayHold, a call
// past the peer's limit is left to its caller (hold): registered, it is to
// be held or waited for (holdCall). Its frame is small, and holdCall's
// apart: a freshly started caller encodes its call within its first stack.
func (c *Conn) ask(ctx context.Context, r *Ref, method string, args []any, q *question, mayHold bool) (id uint64, hold bool, err error) {
	if r.released.Load() {
		if c.Err() != nil {
			return 0, false, c.err
		}
		return 0, false, ErrReleased
	}
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	if len(args) > maxArgs {
		return 0, false, tooManyArgs(len(args))
	}
	if q != nil {
		got, err := c.tryCredit(ctx)
		if err != nil {
			return 0, false, err
		}
		var watch context.Context
		if q.call == nil {
			if _, ok := ctx.(*incall); !ok && ctx.Done() != nil {
				watch = ctx
			}
		}
		if id, err = c.questions.add(q, got, watch); err != nil {
			if got {
				c.returnCredit()
			}
			return 0, false, err
		}
		if !got {
			// Past the peer's announced limit, the call waits, held or here.
			if mayHold {
				return id, true, nil
			}
			id, err = c.pastLimit(ctx, r, method, args, id, false, nil)
			return id, false, err
		}
	} else if err := c.Err(); err != nil {
		return 0, false, err
	}
	err = c.sendCall(ctx, r, id, method, args, q == nil)
	if err == nil {
		c.opts.metrics.callsOut.Add(1)
	}
	if err != nil && q != nil && !c.unsent(id) {
		// The connection closed under us, or ctx's watch gave the call up,
		// and completed q already; let the caller read that outcome.
		return id, false, nil
	}
	return id, false, err
}

// tooManyArgs is ask's error for a call of n arguments.
//
//go:noinline
func tooManyArgs(n int) error {
	return fmt.Errorf("%w: %d arguments, limit %d", ErrBadArguments, n, maxArgs)
}

// holdCall holds call id, registered by ask past the peer's limit, when its
// arguments allow it (see hold), or waits for its credit and sends it.
func (c *Conn) holdCall(ctx context.Context, r *Ref, method string, args []any, id uint64) (uint64, error) {
	held, got, err := c.hold(ctx, r, method, args, id)
	if held {
		return id, nil
	}
	return c.pastLimit(ctx, r, method, args, id, got, err)
}

// pastLimit sends call id, registered uncredited past the peer's limit,
// once it has a credit: got, one taken already; otherwise it waits for one
// (bounded by ctx), unless err, hold's, says the call cannot be made.
func (c *Conn) pastLimit(ctx context.Context, r *Ref, method string, args []any, id uint64, got bool, err error) (uint64, error) {
	if err == nil && !got {
		err = c.takeCredit(ctx)
	}
	if err != nil {
		if q, _ := c.questions.remove(id); q == nil {
			return id, nil // the connection's end or ctx's watch completed q
		}
		return 0, err
	}
	if !c.questions.credit(id) {
		c.returnCredit()
		return id, nil // the connection's end or ctx's watch completed q
	}
	return c.sendAsked(ctx, r, id, method, args)
}

// sendAsked sends two-way call id, registered and credited, as ask does.
func (c *Conn) sendAsked(ctx context.Context, r *Ref, id uint64, method string, args []any) (uint64, error) {
	err := c.sendCall(ctx, r, id, method, args, false)
	if err == nil {
		c.opts.metrics.callsOut.Add(1)
	}
	if err != nil && !c.unsent(id) {
		return id, nil // completed already, as in ask
	}
	return id, err
}

// sendCall writes the call of method on r with args, request id (0 when
// oneway), on a lane: its arguments inline when they all can be, else
// through writeCall.
func (c *Conn) sendCall(ctx context.Context, r *Ref, id uint64, method string, args []any, oneway bool) error {
	l, err := c.callLane(ctx)
	if err != nil {
		return err
	}
	if err = l.beginCall(ctx, r, id, method, oneway); err == nil {
		if c.inlineArgs(l, args) {
			err = c.send(ctx, l)
			c.endArgs(l, err == nil)
		} else {
			err = c.writeCall(ctx, l, args)
		}
	}
	c.releaseLane(l)
	return err
}

// unsent takes the question id, whose call was not sent, out of the table
// and gives back its credit; it reports whether it was still there (the
// caller now owns it).
func (c *Conn) unsent(id uint64) bool {
	q, given := c.questions.remove(id)
	if q == nil && !given {
		return false
	}
	c.returnCredit()
	return q != nil
}

// forget gives up call id for its caller; it reports whether the call was
// still waiting (the caller now owns its question), and whether it may have
// been sent (the peer is then to be told).
func (c *Conn) forget(id uint64) (ok, sent bool) {
	q, sent := c.questions.abandon(id)
	return q != nil, sent
}

// argument kinds are computed before the gob section is written; exported
// counts are undone if the message is not sent.
type argKind struct {
	kind byte
	id   uint64
}

func (c *Conn) writeCall(ctx context.Context, l *outLane, args []any) error {
	err := c.encodeCall(ctx, l, args)
	c.endArgs(l, err == nil)
	return err
}

// endArgs empties l.args once the call they were kept for is sent, or is
// not. When it is not, the peer never learns of the references exported
// for the arguments, so it first takes back the counts they were given.
func (c *Conn) endArgs(l *outLane, sent bool) {
	if len(l.args) == 0 {
		return
	}
	if !sent {
		for _, a := range l.args {
			if a.kind == wire.KindRemote {
				c.exports.Release(a.id, 1)
			}
		}
	}
	clear(l.args)
	l.args = l.args[:0]
}

// inlineArgs appends args to the call message begun on l as its argument
// section when each travels inline with no lane state (nil, built-in
// scalars, records, local objects passed by reference), as encodeCall would
// write them, and reports whether it did; otherwise it leaves l.buf and
// l.args as they were, for encodeCall. A byte slice that encodeCall would
// write uncopied, as the message's tail, is left to it. A referenceable is
// exported here, as valueKind does, and kept in l.args, so that a call that
// is not sent gives its count back (endArgs). Its frames are small, so that
// a freshly started caller writes its first call within the goroutine's
// first stack.
func (c *Conn) inlineArgs(l *outLane, args []any) bool {
	mark := len(l.buf)
	l.buf = appendUvarint(l.buf, uint64(len(args)))
	for _, a := range args {
		var how inlined
		if l.buf, how = appendInlineArg(l.buf, a, l.coder.RecordOf); how != argWritten {
			if how != argByReference || !c.inlineRef(l, a) {
				c.endArgs(l, false) // encodeCall exports them again
				l.buf = l.buf[:mark]
				return false
			}
		}
	}
	return true
}

// inlineRef appends v, a referenceable argument, exported, as encodeCall
// writes it (appendValue); false when it cannot be exported (encodeCall then
// reports why).
//
//go:noinline
func (c *Conn) inlineRef(l *outLane, v any) bool {
	id, err := c.export(v)
	if err != nil {
		return false
	}
	k := argKind{kind: wire.KindRemote, id: id}
	l.appendValue(k, v, inlineRecord{}, false)
	l.args = append(l.args, outArg{argKind: k})
	return true
}

// inlined tells what appendInlineArg did with an argument.
type inlined uint8

const (
	argWritten     inlined = iota // appended
	argNotInline                  // left to encodeCall
	argByReference                // a referenceable: left to the caller
)

// appendInlineArg appends a, a call's argument, to b as it travels inline
// with no lane state: nil, a built-in scalar, or a record, whose plan
// recordOf finds. It reports argNotInline when a does not travel so: a *Ref,
// another type, or a byte slice of wire.TailMin bytes or more (written as
// the message's tail instead), and argByReference for a referenceable, which
// travels as the id it is exported under. Calls sent at once (inlineArgs,
// with their lane's plans, which export a referenceable themselves) and held
// calls (heldArgs) both encode their arguments with it.
func appendInlineArg(b []byte, a any, recordOf func(any) wire.Record) ([]byte, inlined) {
	switch x := a.(type) {
	case nil:
		return append(b, wire.KindNil), argWritten
	case *Ref:
		return b, argNotInline
	case []byte:
		if len(x) >= wire.TailMin {
			return b, argNotInline
		}
	}
	if b, ok := wire.AppendScalar(b, a); ok {
		return b, argWritten
	}
	if _, ok := a.(referenceable); ok {
		return b, argByReference
	}
	rv := reflect.ValueOf(a)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		if rv.IsNil() {
			return append(b, wire.KindNil), argWritten
		}
	}
	r := recordOf(a)
	if !r.OK() {
		return b, argNotInline
	}
	return wire.AppendRecord(b, r), argWritten
}

// encodeCall appends args to the call message begun on l (see beginCall) and
// sends it, keeping how each argument travels in l.args.
func (c *Conn) encodeCall(ctx context.Context, l *outLane, args []any) error {
	if err := c.buildCall(l, args); err != nil {
		return err
	}
	return c.send(ctx, l)
}

// buildCall appends args to the call message begun on l, as encodeCall sends
// it. On an error the message is not to be sent.
func (c *Conn) buildCall(l *outLane, args []any) error {
	gobs := 0
	for _, a := range args {
		k, err := c.kindOf(a)
		if err != nil {
			return err
		}
		rec := l.inline(&k, reflect.ValueOf(a))
		if k.kind == wire.KindGob || k.kind == wire.KindIface {
			gobs++
		}
		l.args = append(l.args, outArg{k, rec})
	}
	l.buf = appendUvarint(l.buf, uint64(len(args)))
	for i := range l.args {
		a := &l.args[i]
		l.appendValue(a.argKind, args[i], a.rec, i == len(args)-1 && gobs == 0)
	}
	if gobs > 0 {
		for i, a := range args {
			if k := l.args[i].kind; k != wire.KindGob && k != wire.KindIface {
				continue
			}
			if err := l.encodeValue(reflect.ValueOf(a)); err != nil {
				return fmt.Errorf("%w: argument %d (%T): %v", ErrBadArguments, i+1, a, err)
			}
		}
	}
	return nil
}

// beginCall starts a call message on l, up to its arguments: the flags, the
// request id, the target, the method and the time left before ctx's
// deadline (an error when none is).
func (l *outLane) beginCall(ctx context.Context, r *Ref, reqID uint64, method string, oneway bool) error {
	l.begin(msgCall)
	return l.callHead(ctx, r, reqID, method, oneway)
}

// callHead appends a call message's fields up to its arguments, as
// beginCall.
func (l *outLane) callHead(ctx context.Context, r *Ref, reqID uint64, method string, oneway bool) error {
	var flags byte
	if oneway {
		flags |= flagOneWay
	}
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		flags |= flagDeadline
	}
	l.buf = append(l.buf, flags)
	l.buf = appendUvarint(l.buf, reqID)
	l.buf = appendUvarint(l.buf, r.id)
	l.buf = wire.AppendString(l.buf, method)
	if hasDeadline {
		d := time.Until(dl)
		if d <= 0 {
			return context.DeadlineExceeded
		}
		l.buf = appendUvarint(l.buf, uint64(d))
	}
	return nil
}

// kindOf decides how an argument travels: as valueKind decides, except that
// a pointer to an interface variable sends what the variable holds as an
// interface, as gob is given one, and a function or channel is refused.
func (c *Conn) kindOf(a any) (argKind, error) {
	k, err := c.valueKind(a)
	if k.kind != wire.KindGob {
		return k, err
	}
	switch rv := reflect.ValueOf(a); rv.Kind() {
	case reflect.Pointer:
		if e := rv.Elem(); e.Kind() == reflect.Interface {
			if e.IsNil() {
				return argKind{kind: wire.KindNil}, nil
			}
			return argKind{kind: wire.KindIface}, nil
		}
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return argKind{}, fmt.Errorf("%w: a %s cannot be sent", ErrBadArguments, rv.Kind())
	}
	return k, nil
}

// valueKind decides how an argument or a result travels: as nil, by
// reference, as an inline scalar, or by gob. A referenceable is exported
// (counted once more) here.
func (c *Conn) valueKind(a any) (argKind, error) {
	switch v := a.(type) {
	case nil:
		return argKind{kind: wire.KindNil}, nil
	case *Ref:
		return c.refKind(v)
	}
	// A built-in scalar has no methods, so it is never a referenceable;
	// checking it first spares the common case the interface check.
	if wire.IsScalar(a) {
		return argKind{kind: wire.KindScalar}, nil
	}
	if v, ok := a.(referenceable); ok {
		id, err := c.export(v)
		if err != nil {
			return argKind{}, err
		}
		return argKind{kind: wire.KindRemote, id: id}, nil
	}
	switch rv := reflect.ValueOf(a); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		if rv.IsNil() {
			return argKind{kind: wire.KindNil}, nil
		}
	}
	return argKind{kind: wire.KindGob}, nil
}

// refKind encodes a *Ref: the peer's own object goes home as wire.KindLocal; a
// local *Ref is our object, exported.
func (c *Conn) refKind(r *Ref) (argKind, error) {
	if r == nil {
		return argKind{kind: wire.KindNil}, nil
	}
	if r.local != nil {
		if r.local == c.root {
			return argKind{}, fmt.Errorf("%w: the root object is reached through Root, not passed", ErrNotReferenceable)
		}
		id, err := c.export(r.local.Value())
		if err != nil {
			return argKind{}, err
		}
		return argKind{kind: wire.KindRemote, id: id}, nil
	}
	if r.conn != c {
		return argKind{}, ErrForeignReference
	}
	if r.released.Load() {
		return argKind{}, ErrReleased
	}
	return argKind{kind: wire.KindLocal, id: r.id}, nil
}

// sendReply answers request reqID with a handler's result.
func (c *Conn) sendReply(reqID uint64, m resultInfo, res reflect.Value) {
	k := argKind{kind: wire.KindNone}
	var gobValue reflect.Value
	var scalar any
	if m.hasResult {
		// A result of an interface type travels as gob carries an
		// interface (nil and references aside).
		iface := res.IsValid() && res.Kind() == reflect.Interface
		declared := res
		for res.Kind() == reflect.Interface && !res.IsNil() {
			res = res.Elem()
		}
		switch {
		case !res.IsValid() || (res.Kind() == reflect.Interface && res.IsNil()):
			k.kind = wire.KindNil
		case iface && !isSpecial(res.Type()):
			k.kind = wire.KindIface
			gobValue = declared
		default:
			var err error
			scalar = res.Interface()
			if k, err = c.valueKind(scalar); err != nil {
				if errors.Is(err, ErrTooManyReferences) {
					c.exportViolation()
					c.sendError(reqID, fmt.Errorf("result: %w", err))
					return
				}
				c.sendError(reqID, fmt.Errorf("%w: %w", ErrBadReply, err))
				return
			}
			if k.kind == wire.KindGob {
				gobValue = res
			}
		}
	}
	l, err := c.acquireLane(context.Background())
	if err != nil {
		if k.kind == wire.KindRemote {
			c.exports.Release(k.id, 1)
		}
		return // the connection is gone; the caller learns that from it
	}
	rec := l.inline(&k, gobValue)
	l.begin(msgReply)
	l.buf = appendUvarint(l.buf, reqID)
	l.appendValue(k, scalar, rec, true)
	if k.kind == wire.KindGob || k.kind == wire.KindIface {
		err = l.encodeValue(gobValue)
		if err != nil {
			err = fmt.Errorf("%w: encoding %s: %v", ErrBadReply, gobValue.Type(), err)
		}
	}
	if err == nil {
		err = c.send(context.Background(), l)
	}
	c.releaseLane(l)
	if err != nil {
		if k.kind == wire.KindRemote {
			c.exports.Release(k.id, 1)
		}
		if c.Err() == nil {
			c.log.Warn("rpc: reply not sent", "err", err)
			c.sendError(reqID, err)
		}
	}
}

// inlineRecord is a struct of scalars that travels inline as a record
// instead of by gob; p is nil for a value that does not.
type inlineRecord = wire.Record

// outArg is how one argument of a call being written travels.
type outArg struct {
	argKind
	rec inlineRecord
}

// inline turns a wire.KindGob value that is a struct of scalars into a record:
// *k becomes wire.KindScalar and the record is returned.
func (l *outLane) inline(k *argKind, v reflect.Value) inlineRecord {
	var r inlineRecord
	if k.kind == wire.KindGob && v.CanInterface() {
		if r = l.coder.RecordOf(v.Interface()); r.OK() {
			k.kind = wire.KindScalar
		}
	}
	return r
}

// appendValue writes one argument or result of kind k: a record, an inline
// scalar (a []byte of at least wire.TailMin as the message's tail, where tail
// allows it), or the kind byte and, for a reference, its id.
func (l *outLane) appendValue(k argKind, scalar any, rec inlineRecord, tail bool) {
	switch {
	case rec.OK():
		l.buf = wire.AppendRecord(l.buf, rec)
	case k.kind == wire.KindScalar:
		if b, ok := scalar.([]byte); ok && tail && len(b) >= wire.TailMin {
			l.buf = wire.AppendBytesHeader(l.buf, len(b))
			l.tail = b
			return
		}
		l.buf, _ = wire.AppendScalar(l.buf, scalar)
	default:
		l.buf = append(l.buf, k.kind)
		if k.kind == wire.KindRemote || k.kind == wire.KindLocal {
			l.buf = appendUvarint(l.buf, k.id)
		}
	}
}

// resultInfo is what sendReply needs to know of a method.
type resultInfo struct{ hasResult bool }

// sendError answers request reqID with err. It blocks only on the lane.
func (c *Conn) sendError(reqID uint64, err error) {
	l, lerr := c.acquireLane(context.Background())
	if lerr != nil {
		return
	}
	c.appendError(l, reqID, err)
	if serr := c.send(context.Background(), l); serr != nil && c.Err() == nil {
		c.log.Warn("rpc: error reply not sent", "err", serr)
	}
	c.releaseLane(l)
}

func (c *Conn) appendError(l *outLane, reqID uint64, err error) {
	code := codeOf(err)
	typ := typeName(err, code)
	msg := err.Error()
	var expected byte
	var ee *expectedError
	var pe *registry.PanicError
	switch {
	case errors.As(err, &ee):
		expected = 1
	case errors.As(err, &pe):
		code = codePanic
		typ = "panic"
		msg = fmt.Sprintf("%v: %v", ErrPanic, pe.Value)
	}
	var stack string
	if c.opts.stackTraces {
		stack = stackOf(err)
	}
	c.opts.metrics.errors[code].Add(1)
	l.begin(msgError)
	l.buf = appendUvarint(l.buf, reqID)
	l.buf = append(l.buf, byte(code), expected)
	l.buf = wire.AppendString(l.buf, typ)
	l.buf = wire.AppendString(l.buf, msg)
	l.buf = wire.AppendString(l.buf, stack)
}

// encodeValue gob-encodes v on l, as one gob value (see
// wire.Encoder.EncodeGob). An error leaves the lane broken: its encoder may
// believe it sent types that the peer never sees.
func (l *outLane) encodeValue(v reflect.Value) error {
	err := l.coder.EncodeGob(v)
	if err != nil {
		l.broken = true
	}
	return err
}
