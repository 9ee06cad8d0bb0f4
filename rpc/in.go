package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"
	"unsafe"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc/internal/wire"
)

// readCall reads a call, decodes its arguments and starts its handler (or
// answers at once with an error). Every gob value is consumed, used or not,
// to keep the lane's decoder in step with the peer's encoder.
func (in *inLane) readCall() error {
	c := in.c
	flags, err := in.mr.ReadByte()
	if err != nil {
		return err
	}
	reqID, err := in.mr.Uvarint()
	if err != nil {
		return err
	}
	objID, err := in.mr.Uvarint()
	if err != nil {
		return err
	}
	name, err := in.mr.Bytes(in.scratch, wire.MaxNameLen)
	if err != nil {
		return err
	}
	in.scratch = name
	var timeout time.Duration
	if flags&flagDeadline != 0 {
		t, err := in.mr.Uvarint()
		if err != nil {
			return err
		}
		timeout = time.Duration(min(t, uint64(1<<62)))
	}
	nargs, err := in.mr.Uvarint()
	if err != nil {
		return err
	}
	if nargs > maxArgs || nargs > uint64(in.mr.Len()) {
		return protocolErrorf("call with %d arguments", nargs)
	}
	oneway := flags&flagOneWay != 0
	if !oneway && reqID == 0 {
		return protocolErrorf("call without a request id")
	}
	c.opts.metrics.callsIn.Add(1)

	var callErr error
	obj := c.object(objID)
	var m *registry.Method
	switch {
	case c.closing.Load():
		callErr = ErrShutdown
	case obj == nil:
		callErr = fmt.Errorf("%w: object %d", ErrNoSuchObject, objID)
	default:
		if string(name) != in.method {
			in.method = string(name) // a lane mostly calls the same methods again
			in.lastObj = nil
		}
		ro, _ := obj.Dispatcher.(*registry.Object)
		if ro != nil && ro == in.lastObj {
			m = in.lastMethod
		} else if m = obj.Lookup(in.method); m != nil {
			if ro != nil {
				in.lastObj, in.lastMethod = ro, m
			}
		} else if in.method == IntrospectMethod {
			if it, im := c.introspect(obj); it != nil {
				obj, m = it, im
			}
		}
		if m == nil {
			callErr = fmt.Errorf("%w: %q", ErrNoSuchMethod, name)
		} else if n := len(m.Params); (!m.Variadic && int(nargs) != n) || (m.Variadic && int(nargs) < n-1) {
			callErr = fmt.Errorf("%w: %s takes %d arguments, got %d", ErrBadArguments, m.Name, n, nargs)
		}
	}
	var ic *incall
	if callErr == nil {
		ic = c.answers.newCall(c, reqID, oneway, obj, m, int(nargs), timeout)
	}
	if err := in.decodeArgs(ic, int(nargs), &callErr); err != nil {
		return err
	}
	// A one-way call holds the handler slot reserved for it before it was
	// parsed (see answerTable.reserveOneWay).
	slot := oneway && in.slot.Swap(false)
	if callErr == nil && oneway && !slot {
		callErr = fmt.Errorf("%w: no one-way handler slot", ErrOverloaded)
	}
	if callErr == nil && !c.answers.admit(oneway, c.opts.maxHandlers) {
		callErr = fmt.Errorf("%w: %d handlers running on this connection", ErrOverloaded, c.opts.maxHandlers)
	}
	if callErr != nil {
		if slot {
			c.answers.releaseOneWay()
		}
		if ic != nil {
			ic.releaseArgs()
		}
		if m != nil {
			if a, ok := obj.Dispatcher.(Abandoner); ok {
				a.Abandon(m)
			}
		}
		if oneway {
			c.log.Debug("rpc: one-way call dropped", "method", string(name), "err", callErr)
			return nil // endCharge returns its charge
		}
		c.queueControl(control{typ: msgError, id: reqID, err: callErr, charge: in.callCharge}, false)
		in.callCharge = 0
		return nil
	}
	ic.charge, in.callCharge = in.callCharge, 0
	c.startCall(ic, in.onReader)
	return nil
}

// object returns the local object with id: the root for id 0.
func (c *Conn) object(id uint64) *target {
	if id == rootID {
		return c.root
	}
	return c.exports.Get(id)
}

// decodeArgs reads the call's n argument kinds (with inline scalars and
// references) and then its gob values, into ic (nil: discard them). The first
// argument error is stored in *callErr; the returned error is a wire failure.
func (in *inLane) decodeArgs(ic *incall, n int, callErr *error) error {
	c := in.c
	// Pass 1: the kinds, in the envelope.
	in.kinds = in.kinds[:0]
	for i := range n {
		k, err := in.mr.ReadByte()
		if err != nil {
			return err
		}
		var pt reflect.Type
		if ic != nil && *callErr == nil {
			pt = ic.m.ArgType(i)
		}
		ak := argKind{kind: k}
		var v reflect.Value
		switch k {
		case wire.KindGob, wire.KindIface:
		case wire.KindNil:
			if pt != nil {
				v = reflect.Zero(pt)
			}
		case wire.KindScalar:
			var misfit error
			if v, misfit, err = in.scalarArg(ic, pt); err != nil {
				return err
			}
			if misfit != nil {
				*callErr = fmt.Errorf("%w: argument %d of %s: %v", ErrBadArguments, i+1, ic.m.Name, misfit)
			}
		case wire.KindRemote:
			if ak.id, err = in.mr.Uvarint(); err != nil {
				return err
			}
			r := c.importRef(ak.id)
			switch {
			case pt == nil:
				r.Release()
			case !refType.AssignableTo(pt):
				r.Release()
				*callErr = fmt.Errorf("%w: argument %d of %s: a reference cannot be a %s", ErrBadArguments, i+1, ic.m.Name, pt)
			default:
				ic.refs = append(ic.refs, r)
				v = reflect.ValueOf(r)
			}
		case wire.KindLocal:
			if ak.id, err = in.mr.Uvarint(); err != nil {
				return err
			}
			if pt == nil {
				break
			}
			obj := c.object(ak.id)
			if obj == nil {
				*callErr = fmt.Errorf("%w: argument %d of %s: object %d", ErrNoSuchObject, i+1, ic.m.Name, ak.id)
				break
			}
			if v = reflect.ValueOf(obj.Value()); !v.Type().AssignableTo(pt) {
				if pt != refType {
					*callErr = fmt.Errorf("%w: argument %d of %s: %s is not %s", ErrBadArguments, i+1, ic.m.Name, v.Type(), pt)
					v = reflect.Value{}
					break
				}
				v = reflect.ValueOf(&Ref{conn: c, id: ak.id, local: obj})
			}
		default:
			return protocolErrorf("unknown argument kind %d", k)
		}
		in.kinds = append(in.kinds, ak)
		if v.IsValid() && *callErr == nil {
			ic.setArg(i, v)
		}
	}
	// Pass 2: the gob values, in order, every one consumed.
	for i, k := range in.kinds {
		if k.kind != wire.KindGob && k.kind != wire.KindIface {
			continue
		}
		if ic == nil || *callErr != nil {
			if err := in.decodeGob(reflect.Value{}); err != nil {
				return err
			}
			continue
		}
		pt := ic.m.ArgType(i)
		var v reflect.Value
		var err error
		if k.kind == wire.KindIface {
			v, err = in.decodeIface(pt)
		} else {
			p := in.argValue(ic, pt)
			if err = in.decodeGob(p); err == nil {
				v = p.Elem()
			}
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return err
			}
			*callErr = fmt.Errorf("%w: argument %d of %s: %v", ErrBadArguments, i+1, ic.m.Name, err)
			continue
		}
		ic.setArg(i, v)
	}
	if ic != nil && *callErr == nil && ic.m.Variadic {
		ic.finishVariadic(n)
	}
	return nil
}

// decodeIface decodes the next gob value, a value sent as an interface, for
// a parameter or reply of type t. An interface type (under any pointers)
// receives it as gob decodes an interface. Another type receives it when
// the value's concrete type is t's, pointers aside on either side; gob
// itself refuses an interface value into a concrete type.
func (in *inLane) decodeIface(t reflect.Type) (reflect.Value, error) {
	ti := in.records.Target(t)
	p := reflect.New(t)
	if ti.Base.Kind() == reflect.Interface {
		if err := in.decodeGob(p); err != nil {
			return reflect.Value{}, err
		}
		return p.Elem(), nil
	}
	var x any
	if err := in.decodeGob(reflect.ValueOf(&x)); err != nil {
		return reflect.Value{}, err
	}
	xv := reflect.ValueOf(x)
	for xv.Kind() == reflect.Pointer && !xv.IsNil() {
		xv = xv.Elem()
	}
	if !xv.IsValid() || xv.Type() != ti.Base || (xv.Kind() == reflect.Pointer && xv.IsNil()) {
		return reflect.Value{}, fmt.Errorf("a %T sent as an interface cannot be a %s", x, t)
	}
	wire.AllocPointers(p.Elem(), ti.Ptrs).Set(xv)
	return p.Elem(), nil
}

// scalarArg reads an inline scalar argument for parameter type pt (nil: read
// and drop it). A record is decoded into the call's scratch space when it
// fits there, as gob values are (see argValue), and a built-in scalar in
// the call's own slots (incall.slot).
func (in *inLane) scalarArg(ic *incall, pt reflect.Type) (v reflect.Value, misfit, err error) {
	maxLen := in.c.opts.maxMessageSize
	sk, err := in.mr.ReadByte()
	if err != nil {
		return v, nil, err
	}
	if sk != wire.ScalarRecord {
		if pt != nil && wire.Builtin(pt) {
			if dst, ok := ic.slot(pt); ok {
				if misfit, err = in.mr.ReadScalarInto(sk, dst, maxLen); err != nil || misfit != nil {
					return reflect.Value{}, misfit, err
				}
				return dst, nil, nil
			}
		}
		return in.mr.ReadScalarKind(sk, pt, maxLen, &in.records)
	}
	var ptr reflect.Value
	if pt != nil && pt.Kind() == reflect.Struct {
		ptr = in.argValue(ic, pt)
	}
	return in.mr.ReadRecordAs(pt, ptr, maxLen, &in.records)
}

// readReply delivers a result to the waiting caller, or drops it when the
// caller is gone (still consuming its gob value).
func (in *inLane) readReply() error {
	c := in.c
	reqID, err := in.mr.Uvarint()
	if err != nil {
		return err
	}
	kind, err := in.mr.ReadByte()
	if err != nil {
		return err
	}
	var id uint64
	switch kind {
	case wire.KindNone, wire.KindGob, wire.KindIface, wire.KindNil:
	case wire.KindRemote, wire.KindLocal:
		if id, err = in.mr.Uvarint(); err != nil {
			return err
		}
	case wire.KindScalar:
		return in.readScalarReply(reqID)
	default:
		return protocolErrorf("unknown result kind %d", kind)
	}
	q := c.questions.take(reqID)
	if q == nil {
		// Cancelled, or never asked: consume and drop.
		switch kind {
		case wire.KindGob, wire.KindIface:
			return in.decodeGob(reflect.Value{})
		case wire.KindRemote:
			c.queueControl(control{typ: msgRelease, id: id, count: 1}, false)
		}
		return nil
	}
	var replyErr error
	switch kind {
	case wire.KindIface:
		if q.reply == nil {
			err = in.decodeGob(reflect.Value{})
		} else if dst, perr := replyVar(q.reply); perr != nil {
			in.decodeGob(reflect.Value{})
			err = perr
		} else {
			var v reflect.Value
			if v, err = in.decodeIface(dst.Type()); err == nil {
				dst.Set(v)
			}
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				q.complete(ErrConnectionLost)
				return err
			}
			replyErr = fmt.Errorf("%w: %v", ErrBadReply, err)
		}
	case wire.KindGob:
		if q.reply == nil {
			err = in.decodeGob(reflect.Value{})
		} else if dst, perr := replyVar(q.reply); perr != nil {
			in.decodeGob(reflect.Value{})
			err = perr
		} else {
			// gob leaves fields it does not send (zero values) alone:
			// start from the zero value so the reply is exactly the result.
			dst.SetZero()
			err = in.decodeGob(dst.Addr())
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				q.complete(ErrConnectionLost)
				return err
			}
			replyErr = fmt.Errorf("%w: %v", ErrBadReply, err)
		}
	case wire.KindNil:
		replyErr = SetReply(q.reply, reflect.Value{})
	case wire.KindRemote:
		r := c.importRef(id)
		if replyErr = SetReply(q.reply, reflect.ValueOf(r)); replyErr != nil {
			r.Release()
		}
	case wire.KindLocal:
		obj := c.object(id)
		if obj == nil {
			replyErr = fmt.Errorf("%w: result object %d", ErrNoSuchObject, id)
			break
		}
		v := reflect.ValueOf(obj.Value())
		if replyErr = SetReply(q.reply, v); replyErr != nil && isRefPtr(q.reply) {
			replyErr = SetReply(q.reply, reflect.ValueOf(&Ref{conn: c, id: id, local: obj}))
		}
	}
	q.complete(replyErr)
	return nil
}

func isRefPtr(reply any) bool {
	_, ok := reply.(**Ref)
	return ok
}

// readError delivers a handler's error to the waiting caller.
func (in *inLane) readError() error {
	reqID, code, expected := in.mr.Uint(), in.mr.Byte(), in.mr.Byte()
	if err := in.mr.Err(); err != nil {
		return err
	}
	var fields [3]string
	for i := range fields {
		b, err := in.mr.Bytes(in.scratch, in.mr.Len())
		if err != nil {
			return err
		}
		in.scratch = b
		fields[i] = string(b)
	}
	re := &RemoteError{Type: fields[0], Message: fields[1], Stack: fields[2], Expected: expected != 0}
	if errorCode(code) < codeLimit {
		re.sentinel = sentinels[code]
	}
	if q := in.c.questions.take(reqID); q != nil {
		q.complete(re)
	}
	return nil
}

// readRelease applies a release of references this side exported.
func (in *inLane) readRelease() error {
	id, n := in.mr.Uint(), in.mr.Uint()
	if err := in.mr.Err(); err != nil {
		return err
	}
	if !in.c.exports.Release(id, n) {
		in.c.badRelease(id, n)
	}
	return nil
}

// readScalarReply delivers an inline scalar result.
func (in *inLane) readScalarReply(reqID uint64) error {
	q := in.c.questions.take(reqID)
	var dst, v reflect.Value
	var misfit, replyErr error
	sk, err := in.mr.ReadByte()
	var ip *int
	if q != nil {
		ip, _ = q.reply.(*int)
	}
	var isInt bool
	if err == nil && ip != nil {
		// An integer for an int variable, the commonest answer: set
		// without reflection.
		var n int64
		if n, isInt, err = in.mr.ReadInt(sk); isInt && err == nil {
			if int64(int(n)) != n {
				misfit = fmt.Errorf("%d overflows a int", n)
			} else {
				*ip = int(n)
			}
		}
	}
	if err == nil && !isInt {
		var t reflect.Type
		if q != nil && q.reply != nil {
			if dst, replyErr = replyVar(q.reply); replyErr == nil {
				t = dst.Type()
			}
		}
		if sk != wire.ScalarRecord && wire.Settable(t) {
			// Straight into the caller's variable.
			var r wire.Scalar
			if r, err = in.mr.ReadRaw(sk, true, in.c.opts.maxMessageSize); err == nil {
				if !r.Fits(t) {
					misfit = fmt.Errorf("a %s value does not fit a %s", r.Type(), t)
				} else {
					misfit = r.Set(dst)
				}
				dst = reflect.Value{}
			}
		} else {
			v, misfit, err = in.mr.ReadScalarKind(sk, t, in.c.opts.maxMessageSize, &in.records)
		}
	}
	if err != nil {
		if q != nil {
			q.complete(ErrConnectionLost)
		}
		return err
	}
	if q == nil {
		return nil
	}
	switch {
	case misfit != nil:
		q.complete(fmt.Errorf("%w: %v", ErrBadReply, misfit))
	case replyErr != nil:
		q.complete(fmt.Errorf("%w: %v", ErrBadReply, replyErr))
	default:
		if dst.IsValid() {
			dst.Set(v)
		}
		q.complete(nil)
	}
	return nil
}

// readCancel cancels a running handler with the caller's reason.
func (in *inLane) readCancel() error {
	id, code := in.mr.Uint(), in.mr.Byte()
	if err := in.mr.Err(); err != nil {
		return err
	}
	why := context.Canceled
	if errorCode(code) == codeDeadlineExceeded {
		why = context.DeadlineExceeded
	}
	in.c.answers.cancel(id, why)
	return nil
}

// scratchWords is the size, in 8-byte words, of an incall's scratch space.
const scratchWords = 8

// argValue returns a pointer to a new zero value of type t to decode an
// argument into: in ic's scratch space when t is small, holds no pointers
// and fits what is left of it (the garbage collector never needs to see into
// it, and reflect.Call copies the value into the handler's frame), else a new
// allocation.
func (in *inLane) argValue(ic *incall, t reflect.Type) reflect.Value {
	words := int((t.Size() + 7) / 8)
	if words == 0 || ic.used+words > scratchWords || t.Align() > 8 || !in.pointerFree(t) {
		return reflect.New(t)
	}
	p := reflect.NewAt(t, unsafe.Pointer(&ic.scratch[ic.used]))
	ic.used += words
	return p
}

// pointerFree reports whether values of t hold no pointers, remembering the
// answer per type.
func (in *inLane) pointerFree(t reflect.Type) bool {
	return in.flat.Get(t, pointerFreeType)
}

func pointerFreeType(t reflect.Type) bool { return isPointerFree(t, 0) }

func isPointerFree(t reflect.Type, depth int) bool {
	if depth > 8 {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return isPointerFree(t.Elem(), depth+1)
	case reflect.Struct:
		for i := range t.NumField() {
			if !isPointerFree(t.Field(i).Type, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}
