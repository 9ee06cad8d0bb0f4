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
	"math/bits"

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
//
// It takes the message from its source a window at a time (never past the
// message's end), so that bytes, varints and short strings are read out of
// the window rather than one interface call per byte. A message that is
// wholly in memory (ResetBytes) is its own window: it is read in place, with
// no source.
//
// A Reader reading from a source points into itself: it must not be copied.
type Reader struct {
	r    ByteSource // nil for a message in memory
	n    int        // bytes left in the current message, those in the window included
	err  error      // the first failure of a run of Uint and Byte reads
	serr error      // a failure of the source met ahead of the window's end: reported once the window is used up
	// buf[lo:] are the message's next bytes, taken from r already. buf is
	// the start of win (nil before the first fill), or the message in
	// memory, capped at its end.
	buf []byte
	lo  int
	win [windowSize]byte
}

// windowSize is the size of a Reader's window: a small message fits whole.
const windowSize = 256

// maxEmptyReads bounds the reads of no bytes and no error a Reader accepts
// in a row from its source before it reports io.ErrNoProgress.
const maxEmptyReads = 100

// Reset has m read a message of n bytes from r.
func (m *Reader) Reset(r ByteSource, n int) {
	m.r, m.n, m.err, m.serr, m.buf, m.lo = r, n, nil, nil, nil, 0
}

// ResetBytes has m read the message b, in place: m reads b (never writes
// it) until the next Reset or ResetBytes, so b must not change until then.
func (m *Reader) ResetBytes(b []byte) {
	m.r, m.n, m.err, m.serr, m.buf, m.lo = nil, len(b), nil, nil, b[:len(b):len(b)], 0
}

// Len returns the number of bytes left in the message.
func (m *Reader) Len() int { return m.n }

// fill takes more of the message from the source into the window, keeping
// the bytes in it, and reports the source's failure (io.EOF as
// io.ErrUnexpectedEOF) if it takes none. The caller has made sure the
// message has bytes beyond the window's and the window has room, so m reads
// from a source (a message in memory is all in its window).
func (m *Reader) fill() error {
	if err := m.serr; err != nil {
		m.serr = nil
		return err
	}
	hi := len(m.buf)
	if m.lo > 0 {
		hi = copy(m.win[:], m.buf[m.lo:])
		m.lo = 0
	}
	end := min(len(m.win), m.n)
	for range maxEmptyReads {
		k, err := m.r.Read(m.win[hi:end])
		hi += k
		m.buf = m.win[:hi]
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			if k == 0 {
				return err
			}
			m.serr = err
		}
		if k > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

// Read reads from the rest of the message.
func (m *Reader) Read(p []byte) (int, error) {
	if m.n <= 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if m.lo == len(m.buf) {
		if len(p) < windowSize || m.serr != nil {
			if err := m.fill(); err != nil {
				return 0, err
			}
		} else {
			// A long read goes straight to the source.
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
	}
	k := copy(p, m.buf[m.lo:])
	m.lo += k
	m.n -= k
	if err := m.serr; err != nil && m.lo == len(m.buf) {
		// The source failed with these bytes: so does this read.
		m.serr = nil
		return k, err
	}
	return k, nil
}

// readFull is io.ReadFull(m, p), without going through an interface.
func (m *Reader) readFull(p []byte) error {
	n := 0
	for n < len(p) {
		k, err := m.Read(p[n:])
		n += k
		if err != nil {
			if n >= len(p) {
				return nil
			}
			if n > 0 && err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// ReadByte reads the message's next byte.
func (m *Reader) ReadByte() (byte, error) {
	if i := uint(m.lo); i < uint(len(m.buf)) {
		b := m.buf[i]
		m.lo = int(i) + 1
		m.n--
		return b, nil
	}
	return m.readByteSlow()
}

// readByteSlow is ReadByte with the window empty.
func (m *Reader) readByteSlow() (byte, error) {
	if m.n <= 0 {
		return 0, io.EOF
	}
	if err := m.fill(); err != nil {
		return 0, err
	}
	b := m.buf[m.lo]
	m.lo++
	m.n--
	return b, nil
}

// uvarint is binary.ReadUvarint(m), decoded in place when the window holds
// the whole varint (here for one or two bytes, the commonest).
func (m *Reader) uvarint() (uint64, error) {
	if i := uint(m.lo); i < uint(len(m.buf)) {
		b := m.buf[i]
		if b < 0x80 {
			m.lo = int(i) + 1
			m.n--
			return uint64(b), nil
		}
		if i+1 < uint(len(m.buf)) {
			if c := m.buf[i+1]; c < 0x80 {
				m.lo = int(i) + 2
				m.n -= 2
				return uint64(b&0x7f) | uint64(c)<<7, nil
			}
		}
	}
	return m.uvarintSlow()
}

// uvarintSlow is uvarint for a varint of more than two bytes or one the
// window ends inside, which it first tops the window up for. A varint that
// the message ends inside or that overflows is read byte by byte, by
// binary.ReadUvarint, so as to fail as it does.
func (m *Reader) uvarintSlow() (uint64, error) {
	if v, k := m.uvarint8(); k > 0 {
		m.lo += k
		m.n -= k
		return v, nil
	}
	v, k := binary.Uvarint(m.buf[m.lo:])
	if k == 0 && len(m.buf)-m.lo < m.n && m.serr == nil {
		if err := m.fill(); err != nil {
			m.serr = err // met by ReadUvarint, after the window's bytes
		} else {
			v, k = binary.Uvarint(m.buf[m.lo:])
		}
	}
	if k > 0 {
		m.lo += k
		m.n -= k
		return v, nil
	}
	return binary.ReadUvarint(m)
}

// uvarint8 decodes a varint of at most 8 bytes at the window's start, all
// 8 bytes at once (taken from buf past its length if need be, up to its
// capacity), and returns it with its length; 0 for a longer varint or one
// the window ends inside.
func (m *Reader) uvarint8() (uint64, int) {
	if m.lo+8 > cap(m.buf) {
		return 0, 0
	}
	w := binary.LittleEndian.Uint64(m.buf[m.lo : m.lo+8])
	// A varint's last byte is the first without the high bit.
	last := ^w & 0x8080808080808080
	if last == 0 {
		return 0, 0
	}
	k := bits.TrailingZeros64(last)/8 + 1
	if k > len(m.buf)-m.lo {
		return 0, 0 // beyond the window's bytes
	}
	w &= ^uint64(0) >> (64 - 8*k)
	// Gather the low 7 bits of each byte.
	return w&0x7f | w>>1&(0x7f<<7) | w>>2&(0x7f<<14) | w>>3&(0x7f<<21) |
		w>>4&(0x7f<<28) | w>>5&(0x7f<<35) | w>>6&(0x7f<<42) | w>>7&(0x7f<<49), k
}

// Uvarint reads an unsigned varint.
func (m *Reader) Uvarint() (uint64, error) {
	v, err := m.uvarint()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return v, err
}

// skipName consumes the next string when it is name, whole in the window
// and no longer than MaxNameLen, compared there without a copy; it reports
// whether it did (else nothing is consumed, and Bytes reads the string).
func (m *Reader) skipName(name string) bool {
	i := uint(m.lo)
	if i >= uint(len(m.buf)) {
		return false
	}
	n := uint(m.buf[i]) // a one-byte length: under 0x80
	if n != uint(len(name)) || n >= 0x80 || n > MaxNameLen || int(n)+1 > m.n {
		return false
	}
	end := i + 1 + n
	if end > uint(len(m.buf)) || string(m.buf[i+1:end]) != name {
		return false
	}
	m.lo = int(end)
	m.n -= int(n) + 1
	return true
}

// Varint reads a signed (zig-zag) varint, as binary.ReadVarint does.
func (m *Reader) Varint() (int64, error) {
	ux, err := m.uvarint()
	return int64(ux>>1) ^ -int64(ux&1), err
}

// Uint reads an unsigned varint as one of a run of reads that Err checks
// once. After a failure, the values the run reads are meaningless.
func (m *Reader) Uint() uint64 {
	v, err := m.uvarint()
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
	if int(n) <= len(m.buf)-m.lo {
		m.lo += copy(scratch, m.buf[m.lo:])
		m.n -= int(n)
		return scratch, nil
	}
	if err := m.readFull(scratch); err != nil {
		return nil, err
	}
	return scratch, nil
}
