package transport

import (
	"encoding/binary"
	"fmt"
)

// Every frame starts with a 10-byte header (big-endian):
//
//	offset 0  type      uint8
//	offset 1  flags     uint8
//	offset 2  stream id uint32
//	offset 6  length    uint32  (payload bytes that follow the header)
//
// See docs/PROTOCOL.md for the rules of each type.
const headerLen = 10

// frameType is the first byte of a frame header.
type frameType uint8

const (
	typeData         frameType = 0 // stream payload; flags SYN, FIN, RST
	typeWindowUpdate frameType = 1 // payload: uint32 credit increment
	typePing         frameType = 2 // payload: 8 opaque bytes; flag ACK
	typeGoAway       frameType = 3 // payload: last stream id, code, reason
)

func (t frameType) String() string {
	switch t {
	case typeData:
		return "DATA"
	case typeWindowUpdate:
		return "WINDOW_UPDATE"
	case typePing:
		return "PING"
	case typeGoAway:
		return "GOAWAY"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Frame flags. SYN, FIN and RST belong to DATA frames, ACK to PING frames.
// Undefined bits are sent as zero and ignored on receipt.
const (
	flagSYN uint8 = 0x01 // DATA: first frame of a new stream
	flagFIN uint8 = 0x02 // DATA: sender's last frame on the stream (half-close)
	flagRST uint8 = 0x04 // DATA: abort the stream; payload is a uint32 reset code
	flagACK uint8 = 0x08 // PING: this is the answer to a PING with the same payload
)

// Fixed payload sizes of control frames.
const (
	rstPayloadLen     = 4
	windowPayloadLen  = 4
	pingPayloadLen    = 8
	goAwayMinLen      = 8
	maxGoAwayReason   = 1024
	goAwayMaxLen      = goAwayMinLen + maxGoAwayReason
	maxStreamID       = 1<<32 - 1
	firstClientStream = 1
	firstServerStream = 2
)

// header is a decoded frame header.
type header [headerLen]byte

func (h *header) typ() frameType   { return frameType(h[0]) }
func (h *header) flags() uint8     { return h[1] }
func (h *header) streamID() uint32 { return binary.BigEndian.Uint32(h[2:6]) }
func (h *header) length() uint32   { return binary.BigEndian.Uint32(h[6:10]) }

func (h *header) String() string {
	return fmt.Sprintf("%v flags=%#x stream=%d len=%d", h.typ(), h.flags(), h.streamID(), h.length())
}

// putHeader encodes a frame header into b[:headerLen].
func putHeader(b []byte, t frameType, flags uint8, id, length uint32) {
	_ = b[headerLen-1]
	b[0] = byte(t)
	b[1] = flags
	binary.BigEndian.PutUint32(b[2:6], id)
	binary.BigEndian.PutUint32(b[6:10], length)
}

// appendHeader appends an encoded frame header to b.
func appendHeader(b []byte, t frameType, flags uint8, id, length uint32) []byte {
	b = append(b, byte(t), flags)
	b = binary.BigEndian.AppendUint32(b, id)
	return binary.BigEndian.AppendUint32(b, length)
}

// appendWindowUpdate appends a WINDOW_UPDATE frame granting inc bytes.
func appendWindowUpdate(b []byte, id, inc uint32) []byte {
	b = appendHeader(b, typeWindowUpdate, 0, id, windowPayloadLen)
	return binary.BigEndian.AppendUint32(b, inc)
}

// appendReset appends a DATA frame with the RST flag.
func appendReset(b []byte, id uint32, code ResetCode) []byte {
	b = appendHeader(b, typeData, flagRST, id, rstPayloadLen)
	return binary.BigEndian.AppendUint32(b, uint32(code))
}

// appendPing appends a PING frame (an answer when ack is set).
func appendPing(b []byte, ack bool, opaque uint64) []byte {
	var f uint8
	if ack {
		f = flagACK
	}
	b = appendHeader(b, typePing, f, 0, pingPayloadLen)
	return binary.BigEndian.AppendUint64(b, opaque)
}

// appendGoAway appends a GOAWAY frame; reason is cut to maxGoAwayReason bytes.
func appendGoAway(b []byte, lastID uint32, code GoAwayCode, reason string) []byte {
	if len(reason) > maxGoAwayReason {
		reason = reason[:maxGoAwayReason]
	}
	b = appendHeader(b, typeGoAway, 0, 0, uint32(goAwayMinLen+len(reason)))
	b = binary.BigEndian.AppendUint32(b, lastID)
	b = binary.BigEndian.AppendUint32(b, uint32(code))
	return append(b, reason...)
}

// checkHeader validates a header against the fixed rules of its type and this
// side's max frame size. It does not look at stream state.
func checkHeader(h *header, maxFrame int) error {
	n := h.length()
	switch h.typ() {
	case typeData:
		if h.streamID() == 0 {
			return protoErrorf("DATA frame on stream 0")
		}
		if h.flags()&flagRST != 0 {
			if n != rstPayloadLen {
				return protoErrorf("RST frame with %d-byte payload, want %d", n, rstPayloadLen)
			}
			return nil
		}
		if n > uint32(maxFrame) {
			return &ProtocolError{Reason: fmt.Sprintf("DATA frame of %d bytes exceeds max frame size %d", n, maxFrame), Err: ErrFrameTooLarge}
		}
	case typeWindowUpdate:
		if h.streamID() == 0 {
			return protoErrorf("WINDOW_UPDATE on stream 0")
		}
		if n != windowPayloadLen {
			return protoErrorf("WINDOW_UPDATE with %d-byte payload, want %d", n, windowPayloadLen)
		}
	case typePing:
		if h.streamID() != 0 {
			return protoErrorf("PING on stream %d", h.streamID())
		}
		if n != pingPayloadLen {
			return protoErrorf("PING with %d-byte payload, want %d", n, pingPayloadLen)
		}
	case typeGoAway:
		if h.streamID() != 0 {
			return protoErrorf("GOAWAY on stream %d", h.streamID())
		}
		if n < goAwayMinLen {
			return protoErrorf("GOAWAY with %d-byte payload, want at least %d", n, goAwayMinLen)
		}
		if n > goAwayMaxLen {
			return &ProtocolError{Reason: fmt.Sprintf("GOAWAY of %d bytes exceeds %d", n, goAwayMaxLen), Err: ErrFrameTooLarge}
		}
	default:
		return protoErrorf("unknown frame type %d", h.typ())
	}
	return nil
}
