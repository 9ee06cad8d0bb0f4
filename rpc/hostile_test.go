package rpc_test

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/transport"
)

// clientPreface is a valid transport preface of a client (docs/PROTOCOL.md).
func clientPreface() []byte {
	b := []byte("\x89FFLY\r\n\x1a")
	b = append(b, 1, 1, 0, 0)
	b = binary.BigEndian.AppendUint32(b, 16<<10)
	b = binary.BigEndian.AppendUint32(b, 4<<20)
	return binary.BigEndian.AppendUint32(b, 1024)
}

// frameHeader is a transport frame header.
func frameHeader(typ, flags byte, stream, length uint32) []byte {
	b := []byte{typ, flags}
	b = binary.BigEndian.AppendUint32(b, stream)
	return binary.BigEndian.AppendUint32(b, length)
}

// TestHostilePeers opens raw TCP connections to a live server and sends what
// a buggy or hostile peer might. After each, the server still serves a
// well-behaved client on another connection, and its log says why it closed
// the bad one (or the bad call is refused and the connection stays usable).
func TestHostilePeers(t *testing.T) {
	var log testutil.LogBuf
	cfg := transport.DefaultConfig()
	cfg.HandshakeTimeout = time.Second
	_, addr := secServe(t, &secRoot{}, rpc.WithLogger(log.Logger()), rpc.WithMaxMessageSize(64<<10),
		rpc.WithMaxHandlers(4), rpc.WithTransportConfig(cfg))
	ctx := testutil.Context(t)

	// raw sends b on a new TCP connection, then half-closes it, and waits for
	// the server to close its side.
	raw := func(t *testing.T, b []byte) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write(b)
		nc.(*net.TCPConn).CloseWrite()
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, nc); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
			t.Fatalf("the server did not close the connection: %v", err)
		}
	}
	// lane sends msgs on a new lane of a new raw peer.
	lane := func(t *testing.T, msgs ...[]byte) *rawPeer {
		p := dialRaw(t, addr, nil)
		st, err := p.lane(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			st.Write(m)
		}
		return p
	}
	closed := func(t *testing.T, p *rawPeer) {
		select {
		case <-p.sess.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the server kept the connection")
		}
	}

	random := make([]byte, 256)
	rand.Read(random)
	random[0] = 'R' // never the preface's first byte

	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
		log  []string
	}{
		{"random bytes", func(t *testing.T) { raw(t, random) }, []string{"connection refused", "bad preface"}},
		{"closed at once", func(t *testing.T) { raw(t, nil) }, []string{"connection refused", "peer closed the connection during the handshake"}},
		{"truncated frame", func(t *testing.T) {
			raw(t, append(clientPreface(), frameHeader(0, 1, 1, 100)[:6]...))
		}, []string{"connection ended", "connection lost"}},
		{"truncated payload", func(t *testing.T) {
			raw(t, append(append(clientPreface(), frameHeader(0, 1, 1, 100)...), "L\x00\x00"...))
		}, []string{"connection ended", "connection lost"}},
		{"huge frame length", func(t *testing.T) {
			raw(t, append(clientPreface(), frameHeader(0, 1, 1, 0xffffffff)...))
		}, []string{"closing connection", "exceeds max frame size"}},
		{"stream never opened", func(t *testing.T) {
			raw(t, append(append(clientPreface(), frameHeader(0, 0, 7, 1)...), 'L'))
		}, []string{"closing connection", "stream 7, which was never opened"}},
		{"bad lane preface", func(t *testing.T) {
			p := dialRaw(t, addr, nil)
			st, _ := p.sess.Open(ctx)
			st.Write([]byte("GET / HTTP/1.1\r\n"))
			closed(t, p)
		}, []string{"closing connection", "lane preface"}},
		{"oversized message", func(t *testing.T) {
			closed(t, lane(t, binary.BigEndian.AppendUint32(nil, 1<<20)))
		}, []string{"closing connection", "message of 1048576 bytes over the limit of 65536"}},
		{"unknown message type", func(t *testing.T) {
			closed(t, lane(t, msg(42, []byte("x"))))
		}, []string{"closing connection", "unknown message type 42"}},
		{"releases of references never sent", func(t *testing.T) {
			closed(t, lane(t, releaseMsg(5, 1), releaseMsg(6, 1), releaseMsg(7, 1), releaseMsg(8, 1)))
		}, []string{"peer released a reference it was never sent", "closing connection", "4 releases of references never sent"}},
		{"call flood without reading answers", func(t *testing.T) {
			// The peer grants the server's lanes 1 KiB and never reads them:
			// the refusals of its calls cannot be sent, and it keeps calling.
			small := transport.DefaultConfig()
			small.InitialWindow = transport.MinWindow
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			sess, err := transport.Client(ctx, nc, &small)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			st, err := sess.Open(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st.Write([]byte{'L'})
			for i := range 2000 {
				if _, err := st.Write(callMsg(uint64(i+1), 99, "echo", intArg(1))); err != nil {
					break
				}
			}
			select {
			case <-sess.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the server kept the connection")
			}
		}, []string{"closing connection", "control queue full"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mark := log.Mark()
			tc.run(t)
			log.WaitForSince(t, mark, tc.log...)
			mustEcho(t, addr)
		})
	}

	// Not violations: calls on references never handed out, on methods that
	// do not exist, with bad arguments, and replies nobody asked for are
	// answered or dropped, and the connection stays usable.
	p := lane(t,
		callMsg(1, 99, "echo", intArg(1)),
		callMsg(2, 0, "noSuchMethod"),
		callMsg(3, 0, "echo", []byte{5, 5, 1, 'x'}),
		callMsg(4, 0, "echo"),
		msg(2, uv(12345), []byte{0}),
		callMsg(5, 0, "echo", intArg(5)),
	)
	want := map[uint64]byte{1: 3, 2: 2, 3: 4, 4: 4, 5: 0}
	for id, code := range want {
		a, ok := p.waitAnswer(ctx, id)
		if !ok {
			t.Fatalf("no answer to call %d: the connection ended (%v)", id, p.sess.Err())
		}
		if a.code != code || (code == 0) != (a.typ == 2) {
			t.Errorf("call %d answered with type %d, code %d; want code %d", id, a.typ, a.code, code)
		}
	}
	mustEcho(t, addr)
}

// isReset reports a connection reset by the peer (the server may close with
// unread data).
func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}
