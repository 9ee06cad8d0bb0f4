// Package wire is the value encoding of the firefly wire (docs/PROTOCOL.md,
// part 2): how an argument or a result is written into a message and read
// back out of one — the value kinds, the inline scalars and records, the
// gob types a lane announces ahead of a value — and the reader of a
// message's bytes. Package rpc builds the messages and runs the broker on
// top of it.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fireflyrpc/firefly/transport"
)

// ErrProtocol reports a peer that broke the rpc protocol; package rpc
// exports it as rpc.ErrProtocol.
var ErrProtocol = errors.New("rpc: protocol violation")

// Errorf reports a violation of the rpc protocol: a
// *transport.ProtocolError that matches ErrProtocol.
func Errorf(format string, args ...any) error {
	return &transport.ProtocolError{Reason: fmt.Sprintf(format, args...), Err: ErrProtocol}
}

// MaxNameLen bounds method names and record field names on the wire.
const MaxNameLen = 1 << 10

// AppendString appends s, length-prefixed.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ByteSource is where a Reader takes a message's bytes from.
type ByteSource interface {
	io.Reader
	io.ByteReader
}

// Reader reads one message's body from a lane: it stops at the message's
// end, so a hostile length inside the body cannot read into the next message.
// It implements io.ByteReader, so the lane's gob decoder reads it directly.
type Reader struct {
	r   ByteSource
	n   int   // bytes left in the current message
	err error // the first failure of a run of Uint and Byte reads
}

// Reset has m read a message of n bytes from r.
func (m *Reader) Reset(r ByteSource, n int) { m.r, m.n, m.err = r, n, nil }

// Len returns the number of bytes left in the message.
func (m *Reader) Len() int { return m.n }

// Read reads from the rest of the message.
func (m *Reader) Read(p []byte) (int, error) {
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

// ReadByte reads the message's next byte.
func (m *Reader) ReadByte() (byte, error) {
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

// Uvarint reads an unsigned varint.
func (m *Reader) Uvarint() (uint64, error) {
	v, err := binary.ReadUvarint(m)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return v, err
}

// Uint reads an unsigned varint as one of a run of reads that Err checks
// once. After a failure, the values the run reads are meaningless.
func (m *Reader) Uint() uint64 {
	v, err := binary.ReadUvarint(m)
	if m.err == nil {
		m.err = err
	}
	return v
}

// Byte reads a byte as one of a run of reads that Err checks once (see
// Uint).
func (m *Reader) Byte() byte {
	b, err := m.ReadByte()
	if m.err == nil {
		m.err = err
	}
	return b
}

// Err returns the first failure of the Uint and Byte reads since the last
// Err or Reset (io.EOF or io.ErrUnexpectedEOF for a message that ends
// inside the run), and starts a new run.
func (m *Reader) Err() error {
	err := m.err
	m.err = nil
	return err
}

// Bytes reads a length-prefixed byte string into scratch (grown as needed)
// and returns it; max bounds the length.
func (m *Reader) Bytes(scratch []byte, max int) ([]byte, error) {
	n, err := m.Uvarint()
	if err != nil {
		return nil, err
	}
	if n > uint64(max) || n > uint64(m.n) {
		return nil, Errorf("string of %d bytes does not fit the message", n)
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
