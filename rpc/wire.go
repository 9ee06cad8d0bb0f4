package rpc

import (
	"encoding/binary"
	"io"
)

// Message types. See docs/PROTOCOL.md, part 2.
const (
	msgCall     byte = 1 // a method call on an object
	msgReply    byte = 2 // the result of a call
	msgError    byte = 3 // the error of a call
	msgCancel   byte = 4 // the caller gave up on a call
	msgRelease  byte = 5 // the receiver dropped references it was sent
	msgSettings byte = 6 // the sender's limits, once, at the connection's start
)

// Call flags.
const (
	flagOneWay   byte = 1 << 0 // no answer expected
	flagDeadline byte = 1 << 1 // a timeout follows the method name
)

// Value kinds: how an argument or a result travels.
const (
	kindNone   byte = 0 // no value (a result only: the method returns none)
	kindGob    byte = 1 // a gob value in the message's gob section
	kindNil    byte = 2 // a nil pointer, interface, slice or map: the zero value
	kindRemote byte = 3 // a reference to an object the sender exports (id follows)
	kindLocal  byte = 4 // a reference to an object the receiver exports (id follows)
	kindScalar byte = 5 // a built-in scalar, inline (see scalar.go)
	kindIface  byte = 6 // a gob value sent as an interface, in the gob section
)

// lanePreface is the first byte of every lane stream.
const lanePreface byte = 'L'

// lengthSize is the size of the length prefix of every message.
const lengthSize = 4

// maxArgs bounds the argument count a call may carry.
const maxArgs = 1 << 12

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// msgReader reads one message's body from a lane: it stops at the message's
// end, so a hostile length inside the body cannot read into the next message.
// It implements io.ByteReader, so the lane's gob decoder reads it directly.
type msgReader struct {
	r byteSource
	n int // bytes left in the current message
}

func (m *msgReader) Read(p []byte) (int, error) {
	if m.n <= 0 {
		return 0, io.EOF
	}
	if len(p) > m.n {
		p = p[:m.n]
	}
	k, err := m.r.Read(p)
	m.n -= k
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return k, err
}

func (m *msgReader) ReadByte() (byte, error) {
	if m.n <= 0 {
		return 0, io.EOF
	}
	b, err := m.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	m.n--
	return b, nil
}

func (m *msgReader) uvarint() (uint64, error) {
	v, err := binary.ReadUvarint(m)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return v, err
}

// bytes reads a length-prefixed byte string into scratch (grown as needed)
// and returns it; max bounds the length.
func (m *msgReader) bytes(scratch []byte, max int) ([]byte, error) {
	n, err := m.uvarint()
	if err != nil {
		return nil, err
	}
	if n > uint64(max) || n > uint64(m.n) {
		return nil, protocolErrorf("string of %d bytes does not fit the message", n)
	}
	if cap(scratch) < int(n) {
		scratch = make([]byte, n)
	}
	scratch = scratch[:n]
	if _, err := io.ReadFull(m, scratch); err != nil {
		return nil, err
	}
	return scratch, nil
}
