package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// The preface is the first thing each side sends; both send at once, without
// waiting for the other. 24 bytes, big-endian:
//
//	offset 0   magic          8 bytes "\x89FFLY\r\n\x1a"
//	offset 8   version        uint8 (1)
//	offset 9   role           uint8 (1 = client/dialer, 2 = server/acceptor)
//	offset 10  features       uint16 (none defined: send 0, ignore unknown bits)
//	offset 12  max frame size uint32: largest DATA payload the sender accepts
//	offset 16  initial window uint32: receive window of each of the sender's streams
//	offset 20  max streams    uint32: streams the receiver may have open towards the sender
const (
	prefaceMagic    = "\x89FFLY\r\n\x1a"
	prefaceLen      = 24
	protocolVersion = 1
	roleClient      = 1
	roleServer      = 2
)

// settings are the limits a side announces in its preface.
type settings struct {
	maxFrame   uint32
	window     uint32
	maxStreams uint32
}

func appendPreface(b []byte, role byte, st settings) []byte {
	b = append(b, prefaceMagic...)
	b = append(b, protocolVersion, role, 0, 0)
	b = binary.BigEndian.AppendUint32(b, st.maxFrame)
	b = binary.BigEndian.AppendUint32(b, st.window)
	return binary.BigEndian.AppendUint32(b, st.maxStreams)
}

// parsePreface validates a peer's preface; wantRole is the role the peer must
// have (the opposite of ours).
func parsePreface(p []byte, wantRole byte) (settings, error) {
	var st settings
	if len(p) < prefaceLen {
		return st, fmt.Errorf("%w: short preface (%d bytes)", ErrBadPreface, len(p))
	}
	if string(p[:len(prefaceMagic)]) != prefaceMagic {
		return st, fmt.Errorf("%w: peer does not speak the firefly transport (first bytes %q)", ErrBadPreface, p[:len(prefaceMagic)])
	}
	if p[8] != protocolVersion {
		return st, fmt.Errorf("%w: unsupported protocol version %d (want %d)", ErrBadPreface, p[8], protocolVersion)
	}
	if p[9] != wantRole {
		if p[9] == roleClient || p[9] == roleServer {
			return st, fmt.Errorf("%w: both sides are %s", ErrBadPreface, roleName(p[9]))
		}
		return st, fmt.Errorf("%w: unknown role %d", ErrBadPreface, p[9])
	}
	st.maxFrame = binary.BigEndian.Uint32(p[12:16])
	st.window = binary.BigEndian.Uint32(p[16:20])
	st.maxStreams = binary.BigEndian.Uint32(p[20:24])
	switch {
	case st.maxFrame < MinFrameSize || st.maxFrame > MaxFrameSizeLimit:
		return st, fmt.Errorf("%w: peer max frame size %d out of range [%d, %d]", ErrBadPreface, st.maxFrame, MinFrameSize, MaxFrameSizeLimit)
	case st.window < MinWindow || st.window > MaxWindow:
		return st, fmt.Errorf("%w: peer initial window %d out of range [%d, %d]", ErrBadPreface, st.window, MinWindow, MaxWindow)
	case st.maxStreams < 1 || st.maxStreams > MaxStreamsLimit:
		return st, fmt.Errorf("%w: peer max streams %d out of range [1, %d]", ErrBadPreface, st.maxStreams, MaxStreamsLimit)
	}
	return st, nil
}

func roleName(r byte) string {
	if r == roleClient {
		return "clients"
	}
	return "servers"
}

// Client runs the handshake as the dialing side over conn and returns the
// session. Streams it opens have odd ids. A nil cfg means DefaultConfig().
// The session owns conn from now on; if the handshake fails, conn is closed.
// The handshake is bounded by cfg.HandshakeTimeout and by ctx.
func Client(ctx context.Context, conn net.Conn, cfg *Config) (*Session, error) {
	return handshake(ctx, conn, cfg, true)
}

// Server runs the handshake as the accepting side over conn and returns the
// session. Streams it opens have even ids. A nil cfg means DefaultConfig().
// The session owns conn from now on; if the handshake fails, conn is closed.
// The handshake is bounded by cfg.HandshakeTimeout and by ctx.
func Server(ctx context.Context, conn net.Conn, cfg *Config) (*Session, error) {
	return handshake(ctx, conn, cfg, false)
}

func handshake(ctx context.Context, conn net.Conn, cfg *Config, client bool) (*Session, error) {
	c := DefaultConfig()
	if cfg != nil {
		c = cfg.withDefaults()
	}
	if err := c.Validate(); err != nil {
		conn.Close()
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("transport: handshake: %w", err)
	}
	role, peerRole := byte(roleServer), byte(roleClient)
	if client {
		role, peerRole = roleClient, roleServer
	}
	local := settings{maxFrame: uint32(c.MaxFrameSize), window: c.InitialWindow, maxStreams: uint32(c.MaxStreams)}

	dl := time.Now().Add(c.HandshakeTimeout)
	ctxBound := false
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl, ctxBound = d, true
	}
	conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })

	// Write and read at once: on a synchronous conn (net.Pipe) neither side
	// could finish its write before the other reads.
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(appendPreface(make([]byte, 0, prefaceLen), role, local))
		werr <- err
	}()
	in := &input{conn: conn}
	br := bufio.NewReaderSize(in, readBufferFloor())
	peer, err := readPreface(br, peerRole)
	if err != nil {
		conn.Close()
		<-werr
	} else if err = <-werr; err != nil {
		err = fmt.Errorf("%w: handshake: %w", ErrConnectionLost, err)
	}
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		return nil, handshakeError(ctx, err, ctxBound)
	}
	conn.SetDeadline(time.Time{})
	return newSession(conn, in, br, c, peer, client), nil
}

// readPreface reads the peer's preface, failing as soon as the bytes that have
// arrived cannot be a preface.
func readPreface(br *bufio.Reader, peerRole byte) (settings, error) {
	var buf [prefaceLen]byte
	n := 0
	for n < prefaceLen {
		m, err := br.Read(buf[n:])
		n += m
		k := min(n, len(prefaceMagic))
		if string(buf[:k]) != prefaceMagic[:k] {
			return settings{}, fmt.Errorf("%w: peer does not speak the firefly transport (first bytes %q)", ErrBadPreface, buf[:k])
		}
		if n == prefaceLen {
			break
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if n == 0 {
					return settings{}, fmt.Errorf("%w: peer closed the connection during the handshake", ErrConnectionLost)
				}
				return settings{}, fmt.Errorf("%w: connection closed after %d bytes of preface", ErrBadPreface, n)
			}
			return settings{}, err
		}
	}
	return parsePreface(buf[:], peerRole)
}

func handshakeError(ctx context.Context, err error, ctxBound bool) error {
	if errors.Is(err, os.ErrDeadlineExceeded) && ctxBound {
		return fmt.Errorf("%w: %w", ErrHandshakeTimeout, context.DeadlineExceeded)
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("%w: %w", ErrHandshakeTimeout, cerr)
		}
		return fmt.Errorf("transport: handshake: %w", cerr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w (no valid preface from the peer in time)", ErrHandshakeTimeout)
	}
	if errors.Is(err, ErrBadPreface) || errors.Is(err, ErrConnectionLost) {
		return err
	}
	return fmt.Errorf("%w: handshake: %w", ErrConnectionLost, err)
}
