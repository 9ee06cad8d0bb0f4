package rpc_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/transport"
)

// secRoot is the root object of the security tests.
type secRoot struct{ rpc.Referenceable }

func (*secRoot) RemoteEcho(x int) int { return x }

// RemoteWho describes the caller as its handler sees it.
func (*secRoot) RemoteWho(ctx context.Context) (string, error) {
	p, ok := rpc.PeerFromContext(ctx)
	if !ok {
		return "", fmt.Errorf("no peer in the handler's context")
	}
	return fmt.Sprintf("%s|%v|%v", p.Identity, p.Verified, p.TLS != nil), nil
}

// RemoteBlob returns n bytes.
func (*secRoot) RemoteBlob(n int) []byte { return make([]byte, n) }

// RemoteSleep waits for ms milliseconds or until the call is cancelled.
func (*secRoot) RemoteSleep(ctx context.Context, ms int) error {
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// secServe serves a new server with root on loopback and returns it and its
// address; both are closed when the test ends.
func secServe(t testing.TB, root any, opts ...rpc.Option) (*rpc.Server, string) {
	t.Helper()
	srv, err := rpc.NewServer(root, opts...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return srv, ln.Addr().String()
}

// mustEcho checks that a well-behaved client is served at addr.
func mustEcho(t testing.TB, addr string, opts ...rpc.Option) {
	t.Helper()
	ctx := testutil.Context(t)
	c, err := rpc.Dial(ctx, "tcp", addr, opts...)
	if err != nil {
		t.Fatalf("a well-behaved client cannot connect: %v", err)
	}
	defer c.Close()
	var got int
	if err := c.Root().Call(ctx, "echo", &got, 7); err != nil || got != 7 {
		t.Fatalf("a well-behaved client is not served: %v, %d", err, got)
	}
}

// testPKI is a certificate authority with a server and a client certificate.
type testPKI struct {
	pool   *x509.CertPool
	server tls.Certificate // for 127.0.0.1, CN "server"
	client tls.Certificate // CN "node-a"
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	ca := testutil.NewPKI(t)
	return &testPKI{pool: ca.Pool(), server: ca.Leaf(t, "server"), client: ca.Leaf(t, "node-a")}
}

// serverConfig requires and verifies client certificates.
func (p *testPKI) serverConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
		MinVersion:   tls.VersionTLS13,
	}
}

func (p *testPKI) clientConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.client},
		RootCAs:      p.pool,
		MinVersion:   tls.VersionTLS13,
	}
}

// rawPeer is a hand-driven peer: a transport session whose rpc messages the
// test writes byte by byte. It reads the server's lanes and reports the
// answers (REPLY and ERROR) it finds.
type rawPeer struct {
	sess *transport.Session
	wg   sync.WaitGroup

	mu   sync.Mutex
	got  map[uint64]rawAnswer // by request id
	more chan struct{}        // signalled after each answer
}

// rawAnswer is a REPLY (typ 2) or ERROR (typ 3) for request id; code is an
// ERROR's code byte.
type rawAnswer struct {
	typ  byte
	id   uint64
	code byte
}

// newRawPeer runs the transport handshake as the client over nc.
func newRawPeer(ctx context.Context, nc net.Conn, cfg *transport.Config) (*rawPeer, error) {
	sess, err := transport.Client(ctx, nc, cfg)
	if err != nil {
		return nil, err
	}
	p := &rawPeer{sess: sess, got: make(map[uint64]rawAnswer), more: make(chan struct{}, 1)}
	p.wg.Add(1)
	go p.acceptLanes()
	return p, nil
}

// dialRaw connects a rawPeer to addr.
func dialRaw(t testing.TB, addr string, cfg *transport.Config) *rawPeer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newRawPeer(testutil.Context(t), nc, cfg)
	if err != nil {
		t.Fatalf("transport handshake: %v", err)
	}
	t.Cleanup(p.close)
	return p
}

func (p *rawPeer) close() {
	p.sess.Close()
	p.wg.Wait()
}

func (p *rawPeer) acceptLanes() {
	defer p.wg.Done()
	for {
		st, err := p.sess.Accept(context.Background())
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer st.Close()
			p.readLane(bufio.NewReader(st))
		}()
	}
}

// readLane parses message framing and the request id of answers; bodies are
// skipped.
func (p *rawPeer) readLane(r *bufio.Reader) {
	if b, err := r.ReadByte(); err != nil || b != 'L' {
		return
	}
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(r, body); err != nil || len(body) == 0 {
			return
		}
		if typ := body[0]; typ == 2 || typ == 3 {
			id, n := binary.Uvarint(body[1:])
			a := rawAnswer{typ: typ, id: id}
			if typ == 3 && n > 0 && 1+n < len(body) {
				a.code = body[1+n]
			}
			p.mu.Lock()
			p.got[id] = a
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
	}
}

// lane opens a stream and writes the lane preface.
func (p *rawPeer) lane(ctx context.Context) (*transport.Stream, error) {
	st, err := p.sess.Open(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := st.Write([]byte{'L'}); err != nil {
		return nil, err
	}
	return st, nil
}

// waitAnswer waits for the answer to request id, or for the session's end
// (ok false).
func (p *rawPeer) waitAnswer(ctx context.Context, id uint64) (rawAnswer, bool) {
	for {
		p.mu.Lock()
		a, ok := p.got[id]
		p.mu.Unlock()
		if ok {
			return a, true
		}
		select {
		case <-p.more:
		case <-p.sess.Done():
			p.wg.Wait() // the lane readers record what had arrived
			p.mu.Lock()
			a, ok := p.got[id]
			p.mu.Unlock()
			return a, ok
		case <-ctx.Done():
			return rawAnswer{}, false
		}
	}
}

// Hand-encoded rpc messages (docs/PROTOCOL.md, part 2).

// msg frames a message: length, type, body.
func msg(typ byte, body ...[]byte) []byte {
	n := 1
	for _, b := range body {
		n += len(b)
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(n))
	out = append(out, typ)
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

func uv(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func str(s string) []byte { return append(uv(uint64(len(s))), s...) }

// intArg is an inline scalar int argument.
func intArg(v int64) []byte { return binary.AppendVarint([]byte{5, 2}, v) }

// callMsg is a two-way CALL of method on object obj with encoded args.
func callMsg(reqID, obj uint64, method string, args ...[]byte) []byte {
	body := [][]byte{{0}, uv(reqID), uv(obj), str(method), uv(uint64(len(args)))}
	return msg(1, append(body, args...)...)
}

// settingsMsg is a SETTINGS announcing a limit of maxCalls two-way calls.
func settingsMsg(maxCalls uint64) []byte { return msg(6, uv(1), uv(1), uv(maxCalls)) }

// releaseMsg is a RELEASE of n transmissions of object id.
func releaseMsg(id, n uint64) []byte { return msg(5, uv(id), uv(n)) }
