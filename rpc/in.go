package rpc

import (
	"bufio"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/transport"
)

// inLane is the receiving end of a lane: one goroutine reads its messages in
// order, decodes them with the lane's gob decoder, and hands calls to handler
// goroutines. It never runs user code and never waits for a lane.
type inLane struct {
	c       *Conn
	st      *transport.Stream
	mr      msgReader
	dec     *gob.Decoder
	scratch []byte
	kinds   []argKind
}

// laneReadBuffer is the read buffer of a lane.
const laneReadBuffer = 16 << 10

// maxNameLen bounds method names on the wire.
const maxNameLen = 1 << 10

func (c *Conn) readLane(st *transport.Stream) {
	in := &inLane{c: c, st: st}
	in.mr.r = bufio.NewReaderSize(st, laneReadBuffer)
	in.dec = gob.NewDecoder(&in.mr)
	err := in.run()
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, transport.ErrStreamReset):
		// The peer closed or abandoned the lane.
		st.Close()
	case errors.Is(err, ErrProtocol):
		c.shutdown(err)
	default:
		// The session is failing; acceptLanes records why.
		st.Close()
	}
}

func (in *inLane) run() error {
	b, err := in.mr.r.ReadByte()
	if err != nil {
		return err
	}
	if b != lanePreface {
		return protocolErrorf("stream does not start with the lane preface (got %#x)", b)
	}
	var hdr [lengthSize]byte
	for {
		if _, err := io.ReadFull(in.mr.r, hdr[:]); err != nil {
			if err == io.ErrUnexpectedEOF {
				return protocolErrorf("lane closed inside a message header")
			}
			return err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if int64(n) > int64(in.c.opts.maxMessageSize) {
			return fmt.Errorf("%w: %v", &ProtocolError{Reason: fmt.Sprintf("message of %d bytes over the limit of %d", n, in.c.opts.maxMessageSize)}, ErrMessageTooLarge)
		}
		if n == 0 {
			return protocolErrorf("empty message")
		}
		in.mr.n = int(n)
		typ, _ := in.mr.ReadByte()
		switch typ {
		case msgCall:
			err = in.readCall()
		case msgReply:
			err = in.readReply()
		case msgError:
			err = in.readError()
		case msgCancel:
			var id uint64
			if id, err = in.mr.uvarint(); err == nil {
				in.c.answers.cancel(id)
			}
		case msgRelease:
			err = in.readRelease()
		default:
			return protocolErrorf("unknown message type %d", typ)
		}
		if err != nil {
			return in.wireError(err)
		}
		if in.mr.n != 0 {
			return protocolErrorf("%d stray bytes after a message of type %d", in.mr.n, typ)
		}
	}
}

// wireError classifies an error met while reading a message: a short read is
// the stream failing (or reset); anything else is the peer's fault.
func (in *inLane) wireError(err error) error {
	if errors.Is(err, ErrProtocol) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		// Did the stream fail under the message, or is the message short?
		if _, perr := in.mr.r.Peek(1); perr != nil && !errors.Is(perr, io.EOF) {
			return perr
		}
		return protocolErrorf("truncated message")
	}
	return protocolErrorf("%v", err)
}

// readKinds reads the argument kinds of a call.
func (in *inLane) readKinds(n uint64) error {
	in.kinds = in.kinds[:0]
	for range n {
		k, err := in.mr.ReadByte()
		if err != nil {
			return err
		}
		ak := argKind{kind: k}
		switch k {
		case kindGob, kindNil:
		case kindRemote, kindLocal:
			if ak.id, err = in.mr.uvarint(); err != nil {
				return err
			}
		default:
			return protocolErrorf("unknown argument kind %d", k)
		}
		in.kinds = append(in.kinds, ak)
	}
	return nil
}

// readCall reads a call, decodes its arguments and starts its handler (or
// answers at once with an error). Every gob value is consumed, used or not,
// to keep the lane's decoder in step with the peer's encoder.
func (in *inLane) readCall() error {
	c := in.c
	flags, err := in.mr.ReadByte()
	if err != nil {
		return err
	}
	reqID, err := in.mr.uvarint()
	if err != nil {
		return err
	}
	objID, err := in.mr.uvarint()
	if err != nil {
		return err
	}
	name, err := in.mr.bytes(in.scratch, maxNameLen)
	if err != nil {
		return err
	}
	in.scratch = name
	var timeout time.Duration
	if flags&flagDeadline != 0 {
		t, err := in.mr.uvarint()
		if err != nil {
			return err
		}
		timeout = time.Duration(min(t, uint64(1<<62)))
	}
	nargs, err := in.mr.uvarint()
	if err != nil {
		return err
	}
	if nargs > maxArgs || nargs > uint64(in.mr.n) {
		return protocolErrorf("call with %d arguments", nargs)
	}
	if err := in.readKinds(nargs); err != nil {
		return err
	}
	oneway := flags&flagOneWay != 0
	if !oneway && reqID == 0 {
		return protocolErrorf("call without a request id")
	}

	var callErr error
	obj := c.object(objID)
	var m *registry.Method
	switch {
	case c.closing.Load():
		callErr = ErrShutdown
	case obj == nil:
		callErr = fmt.Errorf("%w: object %d", ErrNoSuchObject, objID)
	default:
		if m = obj.Lookup(string(name)); m == nil {
			callErr = fmt.Errorf("%w: %q", ErrNoSuchMethod, name)
		} else if n := len(m.Params); (!m.Variadic && int(nargs) != n) || (m.Variadic && int(nargs) < n-1) {
			callErr = fmt.Errorf("%w: %s takes %d arguments, got %d", ErrBadArguments, m.Name, n, nargs)
		}
	}
	var ic *incall
	if callErr == nil {
		ic = c.answers.newCall(c, reqID, oneway, obj, m, int(nargs), timeout)
	}
	if err := in.decodeArgs(ic, &callErr); err != nil {
		return err
	}
	if callErr == nil && !c.answers.admit(c.opts.maxHandlers) {
		callErr = fmt.Errorf("%w: %d handlers running on this connection", ErrOverloaded, c.opts.maxHandlers)
	}
	if callErr != nil {
		if ic != nil {
			ic.releaseArgs()
		}
		if oneway {
			c.log.Debug("rpc: one-way call dropped", "method", string(name), "err", callErr)
			return nil
		}
		c.queueControl(control{typ: msgError, id: reqID, err: callErr}, false)
		return nil
	}
	c.answers.start(ic)
	go c.serve(ic)
	return nil
}

// object returns the local object with id: the root for id 0.
func (c *Conn) object(id uint64) *target {
	if id == rootID {
		return c.root
	}
	return c.exports.get(id)
}

// decodeArgs decodes the call's arguments into ic (nil: discard them). The
// first argument error is stored in *callErr; the returned error is a wire
// failure.
func (in *inLane) decodeArgs(ic *incall, callErr *error) error {
	c := in.c
	var rest reflect.Value
	nfixed := 0
	if ic != nil {
		nfixed = len(ic.m.Params)
		if ic.m.Variadic {
			nfixed--
			rest = reflect.MakeSlice(ic.m.Params[nfixed], 0, len(in.kinds)-nfixed)
		}
	}
	for i, k := range in.kinds {
		var pt reflect.Type
		if ic != nil && *callErr == nil {
			pt = paramType(ic.m, i)
		}
		var v reflect.Value
		switch k.kind {
		case kindGob:
			if pt == nil {
				if err := in.dec.DecodeValue(reflect.Value{}); err != nil {
					return err
				}
				continue
			}
			p := reflect.New(pt)
			if err := in.dec.DecodeValue(p); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					return err
				}
				*callErr = fmt.Errorf("%w: argument %d of %s: %v", ErrBadArguments, i, ic.m.Name, err)
				continue
			}
			v = p.Elem()
		case kindNil:
			if pt == nil {
				continue
			}
			v = reflect.Zero(pt)
		case kindRemote:
			r := c.importRef(k.id)
			if pt == nil {
				r.Release()
				continue
			}
			if !refType.AssignableTo(pt) {
				r.Release()
				*callErr = fmt.Errorf("%w: argument %d of %s: a reference cannot be a %s", ErrBadArguments, i, ic.m.Name, pt)
				continue
			}
			ic.refs = append(ic.refs, r)
			v = reflect.ValueOf(r)
		case kindLocal:
			if pt == nil {
				continue
			}
			obj := c.object(k.id)
			if obj == nil {
				*callErr = fmt.Errorf("%w: argument %d of %s: object %d", ErrNoSuchObject, i, ic.m.Name, k.id)
				continue
			}
			if v = reflect.ValueOf(obj.Value()); !v.Type().AssignableTo(pt) {
				if pt != refType {
					*callErr = fmt.Errorf("%w: argument %d of %s: %s is not %s", ErrBadArguments, i, ic.m.Name, v.Type(), pt)
					continue
				}
				v = reflect.ValueOf(&Ref{conn: c, id: k.id, local: obj})
			}
		}
		if i >= nfixed && ic.m.Variadic {
			rest = reflect.Append(rest, v)
		} else {
			ic.args[i] = v
		}
	}
	if ic != nil && ic.m.Variadic && *callErr == nil {
		ic.args[nfixed] = rest
	}
	return nil
}

// readReply delivers a result to the waiting caller, or drops it when the
// caller is gone (still consuming its gob value).
func (in *inLane) readReply() error {
	c := in.c
	reqID, err := in.mr.uvarint()
	if err != nil {
		return err
	}
	kind, err := in.mr.ReadByte()
	if err != nil {
		return err
	}
	var id uint64
	switch kind {
	case kindNone, kindGob, kindNil:
	case kindRemote, kindLocal:
		if id, err = in.mr.uvarint(); err != nil {
			return err
		}
	default:
		return protocolErrorf("unknown result kind %d", kind)
	}
	q := c.questions.take(reqID)
	if q == nil {
		// Cancelled, or never asked: consume and drop.
		switch kind {
		case kindGob:
			return in.dec.DecodeValue(reflect.Value{})
		case kindRemote:
			c.queueControl(control{typ: msgRelease, id: id, count: 1}, false)
		}
		return nil
	}
	var replyErr error
	switch kind {
	case kindGob:
		if q.reply == nil {
			err = in.dec.DecodeValue(reflect.Value{})
		} else if rv := reflect.ValueOf(q.reply); rv.Kind() != reflect.Pointer || rv.IsNil() {
			in.dec.DecodeValue(reflect.Value{})
			err = fmt.Errorf("reply must be a non-nil pointer, not %T", q.reply)
		} else {
			// gob leaves fields it does not send (zero values) alone:
			// start from the zero value so the reply is exactly the result.
			rv.Elem().SetZero()
			err = in.dec.DecodeValue(rv)
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				q.complete(ErrConnectionLost)
				return err
			}
			replyErr = fmt.Errorf("%w: %v", ErrBadReply, err)
		}
	case kindNil:
		replyErr = setReply(q.reply, reflect.Value{})
	case kindRemote:
		r := c.importRef(id)
		if replyErr = setReply(q.reply, reflect.ValueOf(r)); replyErr != nil {
			r.Release()
		}
	case kindLocal:
		obj := c.object(id)
		if obj == nil {
			replyErr = fmt.Errorf("%w: result object %d", ErrNoSuchObject, id)
			break
		}
		v := reflect.ValueOf(obj.Value())
		if replyErr = setReply(q.reply, v); replyErr != nil && isRefPtr(q.reply) {
			replyErr = setReply(q.reply, reflect.ValueOf(&Ref{conn: c, id: id, local: obj}))
		}
	}
	q.complete(replyErr)
	return nil
}

func isRefPtr(reply any) bool {
	_, ok := reply.(**Ref)
	return ok
}

// setReply stores v (invalid: the zero value) in the pointer reply.
func setReply(reply any, v reflect.Value) error {
	if reply == nil {
		return nil
	}
	rv := reflect.ValueOf(reply)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("%w: reply must be a non-nil pointer, not %T", ErrBadReply, reply)
	}
	dst := rv.Elem()
	if !v.IsValid() {
		dst.SetZero()
		return nil
	}
	if !v.Type().AssignableTo(dst.Type()) {
		return fmt.Errorf("%w: a %s cannot be stored in %T", ErrBadReply, v.Type(), reply)
	}
	dst.Set(v)
	return nil
}

// readError delivers a handler's error to the waiting caller.
func (in *inLane) readError() error {
	reqID, err := in.mr.uvarint()
	if err != nil {
		return err
	}
	code, err := in.mr.ReadByte()
	if err != nil {
		return err
	}
	expected, err := in.mr.ReadByte()
	if err != nil {
		return err
	}
	var fields [3]string
	for i := range fields {
		b, err := in.mr.bytes(in.scratch, in.mr.n)
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
	id, err := in.mr.uvarint()
	if err != nil {
		return err
	}
	n, err := in.mr.uvarint()
	if err != nil {
		return err
	}
	if !in.c.exports.release(id, n) {
		in.c.badRelease(id, n)
	}
	return nil
}
