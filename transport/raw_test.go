package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// rawPeer speaks the wire protocol by hand, to craft frames a correct
// implementation never sends and to observe exactly what a session sends.
type rawPeer struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

type rawFrame struct {
	h       header
	payload []byte
}

// rawSettings are generous limits for a raw peer.
func rawSettings() settings {
	return settings{maxFrame: MaxFrameSizeLimit, window: MaxWindow, maxStreams: 1 << 20}
}

// newRawServer returns a Session running as client against a raw server
// that announced st.
func newRawServer(t testing.TB, cfg *Config, st settings) (*Session, *rawPeer) {
	t.Helper()
	cc, sc := tcpPair(t)
	p := &rawPeer{t: t, conn: sc, br: bufio.NewReaderSize(sc, 1<<20)}
	t.Cleanup(func() { sc.Close() })
	done := make(chan error, 1)
	go func() {
		_, err := sc.Write(appendPreface(nil, roleServer, st))
		if err == nil {
			var buf [prefaceLen]byte
			if _, err = io.ReadFull(p.br, buf[:]); err == nil {
				_, err = parsePreface(buf[:], roleClient)
			}
		}
		done <- err
	}()
	s, err := Client(context.Background(), cc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, p
}

// newRawClient returns a Session running as server against a raw client.
func newRawClient(t testing.TB, cfg *Config) (*Session, *rawPeer) {
	t.Helper()
	cc, sc := tcpPair(t)
	p := &rawPeer{t: t, conn: cc, br: bufio.NewReaderSize(cc, 1<<20)}
	t.Cleanup(func() { cc.Close() })
	done := make(chan error, 1)
	go func() {
		_, err := cc.Write(appendPreface(nil, roleClient, rawSettings()))
		if err == nil {
			var buf [prefaceLen]byte
			if _, err = io.ReadFull(p.br, buf[:]); err == nil {
				_, err = parsePreface(buf[:], roleServer)
			}
		}
		done <- err
	}()
	s, err := Server(context.Background(), sc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, p
}

func (p *rawPeer) write(t frameType, flags uint8, id uint32, payload []byte) {
	b := appendHeader(nil, t, flags, id, uint32(len(payload)))
	if _, err := p.conn.Write(append(b, payload...)); err != nil {
		p.t.Fatal("raw write:", err)
	}
}

func (p *rawPeer) writeBytes(b []byte) {
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatal("raw write:", err)
	}
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// read returns the next frame, or an error at EOF.
func (p *rawPeer) read() (rawFrame, error) { return p.readWithin(10 * time.Second) }

// readWithin returns the next frame, or an error at EOF or if none came
// within d.
func (p *rawPeer) readWithin(d time.Duration) (rawFrame, error) {
	var f rawFrame
	p.conn.SetReadDeadline(time.Now().Add(d))
	if _, err := io.ReadFull(p.br, f.h[:]); err != nil {
		return f, err
	}
	f.payload = make([]byte, f.h.length())
	_, err := io.ReadFull(p.br, f.payload)
	return f, err
}

// next returns the next frame that is not a PING or WINDOW_UPDATE.
func (p *rawPeer) next() rawFrame {
	p.t.Helper()
	for {
		f, err := p.read()
		if err != nil {
			p.t.Fatal("raw read:", err)
		}
		if f.h.typ() != typePing && f.h.typ() != typeWindowUpdate {
			return f
		}
	}
}

// expectGoAway reads until a GOAWAY and returns its code and reason.
func (p *rawPeer) expectGoAway() (GoAwayCode, string) {
	p.t.Helper()
	for {
		f, err := p.read()
		if err != nil {
			p.t.Fatal("no GOAWAY before", err)
		}
		if f.h.typ() == typeGoAway {
			return f.goAway()
		}
	}
}

// goAway returns a GOAWAY frame's code and reason.
func (f rawFrame) goAway() (GoAwayCode, string) {
	return GoAwayCode(binary.BigEndian.Uint32(f.payload[4:8])), string(f.payload[8:])
}

// expectProtocolError checks that s ended with a *ProtocolError.
func expectProtocolError(t testing.TB, s *Session) *ProtocolError {
	t.Helper()
	err := waitDone(t, s, 10*time.Second)
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("session error %v, want a *ProtocolError", err)
	}
	return pe
}
