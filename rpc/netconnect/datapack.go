package netconnect

import (
	"encoding/binary"
	"io"
	"math"
)

// HeaderSize is the size of a packet's header: Firefly's struct format
// "!sssss3I", big-endian.
//
//	offset  size  field
//	0       4     head bytes (HEAD_0..HEAD_3)
//	4       1     protocol version
//	5       4     server version (uint32)
//	9       4     length: body length + 4 (uint32)
//	13      4     command id (uint32)
//	17            body
const HeaderSize = 17

// DefaultMaxBody is the largest body a Datapack accepts when its MaxBody is
// zero.
const DefaultMaxBody = 64 << 10

// maxBodyLimit is the largest body the length field can describe (and an
// int can hold).
const maxBodyLimit = min(math.MaxUint32-4, math.MaxInt)

// A Datapack is the packet format a server and its clients agree on
// (Firefly's DataPackProtoc): the head bytes and versions every header must
// carry, and the largest body accepted. The zero value is Firefly's default
// (all zeros) with a body of at most DefaultMaxBody bytes.
type Datapack struct {
	// Head is the four head bytes.
	Head [4]byte
	// ProtocolVersion is the protocol version byte.
	ProtocolVersion byte
	// ServerVersion is the server version.
	ServerVersion uint32
	// MaxBody is the largest body, in bytes, read or written; 0 means
	// DefaultMaxBody, and it is capped at 2^32-5 (what the length field can
	// carry).
	MaxBody int
}

// maxBody returns the effective body limit.
func (d *Datapack) maxBody() int {
	switch {
	case d.MaxBody <= 0:
		return DefaultMaxBody
	case uint64(d.MaxBody) > maxBodyLimit:
		return maxBodyLimit
	}
	return d.MaxBody
}

// Header is a decoded packet header.
type Header struct {
	// Command is the command id (a topic id for a push).
	Command uint32
	// BodyLen is the length of the body that follows.
	BodyLen int
}

// PutHeader writes the header of a packet with command and a body of
// bodyLen bytes into h.
func (d *Datapack) PutHeader(h *[HeaderSize]byte, command uint32, bodyLen int) {
	copy(h[0:4], d.Head[:])
	h[4] = d.ProtocolVersion
	binary.BigEndian.PutUint32(h[5:9], d.ServerVersion)
	binary.BigEndian.PutUint32(h[9:13], uint32(bodyLen)+4)
	binary.BigEndian.PutUint32(h[13:17], command)
}

// Append appends the packet (header and body) to dst and returns the
// extended slice. A body over MaxBody is an error matching ErrTooLarge.
func (d *Datapack) Append(dst []byte, command uint32, body []byte) ([]byte, error) {
	if max := d.maxBody(); len(body) > max {
		return dst, &HeaderError{Err: ErrTooLarge, Field: "body length", Got: uint64(len(body)), Want: uint64(max)}
	}
	var h [HeaderSize]byte
	d.PutHeader(&h, command, len(body))
	dst = append(dst, h[:]...)
	return append(dst, body...), nil
}

// Encode returns the packet (header and body) in a new slice.
func (d *Datapack) Encode(command uint32, body []byte) ([]byte, error) {
	return d.Append(make([]byte, 0, HeaderSize+len(body)), command, body)
}

// ParseHeader checks h against the datapack and decodes it. A mismatch is a
// *HeaderError matching ErrBadHead, ErrBadVersion, ErrBadLength or
// ErrTooLarge; nothing of the body has to be read to know it.
func (d *Datapack) ParseHeader(h []byte) (Header, error) {
	if len(h) < HeaderSize {
		return Header{}, io.ErrUnexpectedEOF
	}
	if [4]byte(h[0:4]) != d.Head {
		return Header{}, &HeaderError{Err: ErrBadHead, Field: "head",
			Got: uint64(binary.BigEndian.Uint32(h[0:4])), Want: uint64(binary.BigEndian.Uint32(d.Head[:]))}
	}
	if h[4] != d.ProtocolVersion {
		return Header{}, &HeaderError{Err: ErrBadVersion, Field: "protocol version", Got: uint64(h[4]), Want: uint64(d.ProtocolVersion)}
	}
	if v := binary.BigEndian.Uint32(h[5:9]); v != d.ServerVersion {
		return Header{}, &HeaderError{Err: ErrBadVersion, Field: "server version", Got: uint64(v), Want: uint64(d.ServerVersion)}
	}
	length := binary.BigEndian.Uint32(h[9:13])
	if length < 4 {
		return Header{}, &HeaderError{Err: ErrBadLength, Field: "length", Got: uint64(length), Want: 4}
	}
	n := uint64(length - 4)
	if max := uint64(d.maxBody()); n > max {
		return Header{}, &HeaderError{Err: ErrTooLarge, Field: "body length", Got: n, Want: max}
	}
	return Header{Command: binary.BigEndian.Uint32(h[13:17]), BodyLen: int(n)}, nil
}

// Decode decodes one packet at the start of b. It returns the header, the
// body (a subslice of b) and the number of bytes used; n == 0 with a nil
// error means b does not hold a whole packet yet (more input is needed,
// never a reason to parse b again before it grew). A bad header is an
// error, whatever follows it.
func (d *Datapack) Decode(b []byte) (h Header, body []byte, n int, err error) {
	if len(b) < HeaderSize {
		return Header{}, nil, 0, nil
	}
	h, err = d.ParseHeader(b)
	if err != nil {
		return Header{}, nil, 0, err
	}
	end := HeaderSize + h.BodyLen
	if len(b) < end {
		return Header{}, nil, 0, nil
	}
	return h, b[HeaderSize:end:end], end, nil
}

// maxEmptyReads is how many reads in a row may return neither data nor an
// error before a reader gives up with ErrNoProgress.
const maxEmptyReads = 100

// A Reader reads packets from a stream (a connection), a header and a body
// at a time: a body that arrives in pieces is read piece by piece as each
// arrives, with no parsing of data already seen. Its buffer holds small
// packets whole, so a small packet costs one read; a larger body is read
// straight into the slice returned for it.
type Reader struct {
	dp   *Datapack
	r    io.Reader
	buf  []byte
	i, j int // buf[i:j] is read but unused
}

// readerBuffer is a Reader's buffer size: a header and a small body.
const readerBuffer = 512

// NewReader returns a Reader of packets in datapack d from r.
func NewReader(d *Datapack, r io.Reader) *Reader {
	return &Reader{dp: d, r: r}
}

// fill reads once into the buffer's free space. It fails with ErrNoProgress
// after maxEmptyReads empty reads.
func (r *Reader) fill() error {
	if r.buf == nil {
		r.buf = make([]byte, readerBuffer)
	}
	if r.i > 0 {
		r.j = copy(r.buf, r.buf[r.i:r.j])
		r.i = 0
	}
	for range maxEmptyReads {
		n, err := r.r.Read(r.buf[r.j:])
		r.j += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return ErrNoProgress
}

// Read reads the next packet: its header, checked against the datapack,
// and its body in a new slice the caller owns. A bad header is returned
// before any of the body is read. A stream that ends inside a packet is
// io.ErrUnexpectedEOF; one that ends between packets, io.EOF.
func (r *Reader) Read() (Header, []byte, error) {
	for r.j-r.i < HeaderSize {
		if err := r.fill(); err != nil {
			if err == io.EOF && r.j > r.i {
				err = io.ErrUnexpectedEOF
			}
			return Header{}, nil, err
		}
	}
	h, err := r.dp.ParseHeader(r.buf[r.i:r.j])
	if err != nil {
		return Header{}, nil, err
	}
	r.i += HeaderSize
	body := make([]byte, h.BodyLen)
	n := copy(body, r.buf[r.i:r.j])
	r.i += n
	if r.i == r.j {
		r.i, r.j = 0, 0
	}
	if err := readFull(r.r, body[n:]); err != nil {
		return Header{}, nil, err
	}
	return h, body, nil
}

// Buffered returns the number of bytes read from the stream but not yet
// returned in a packet.
func (r *Reader) Buffered() int { return r.j - r.i }

// readFull reads len(p) bytes like io.ReadFull, but fails with ErrNoProgress
// instead of looping on a reader that returns nothing and no error.
func readFull(r io.Reader, p []byte) error {
	empty := 0
	for len(p) > 0 {
		n, err := r.Read(p)
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if n == 0 {
			if empty++; empty >= maxEmptyReads {
				return ErrNoProgress
			}
		} else {
			empty = 0
		}
	}
	return nil
}
