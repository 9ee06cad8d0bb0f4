package rpc

import (
	"encoding/binary"

	"github.com/fireflyrpc/firefly/rpc/internal/wire"
)

// Message types. See docs/PROTOCOL.md, part 2; how the values in them are
// encoded is package wire's.
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

// lanePreface is the first byte of every lane stream.
const lanePreface byte = 'L'

// lengthSize is the size of the length prefix of every message.
const lengthSize = 4

// maxArgs bounds the argument count a call may carry.
const maxArgs = 1 << 12

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// msgReader reads the body of the message a lane parses (see wire.Reader).
type msgReader struct{ wire.Reader }

// uvarint reads an unsigned varint.
func (m *msgReader) uvarint() (uint64, error) { return m.Uvarint() }
