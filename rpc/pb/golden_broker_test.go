package pb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

// The seed's objects, as cmd/pbdemo has them.
type seedOne struct{ out chan string }

func (o *seedOne) RemoteTakeTwo(ctx context.Context, two *rpc.Ref) error {
	o.out <- fmt.Sprint("received a Two called ", two)
	return two.Call(ctx, "print", nil, 12)
}

type seedTwo struct {
	rpc.Referenceable
	got chan int
}

func (t *seedTwo) RemotePrint(arg int) { t.got <- arg }

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := readTestdataFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readTestdataFile(name string) ([]byte, error) { return os.ReadFile("testdata/" + name) }

// readN reads exactly n bytes or fails the test.
func readN(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("reading %d bytes: %v (got % x)", n, err, b)
	}
	return b
}

// The Go client, against a server that replays what pb3server.py sent,
// writes exactly the bytes pb3client.py wrote (PB-WIRE.md §10).
func TestGoldenSeedClient(t *testing.T) {
	toClient := readTestdata(t, "seed-server-to-client.bin")
	want := readTestdata(t, "seed-client-to-server.bin")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		got []byte
		err error
	}
	res := make(chan result, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			res <- result{err: err}
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		nc.Write(toClient[:12]) // the dialect offer
		got := make([]byte, 47)
		if _, err := io.ReadFull(nc, got); err != nil {
			res <- result{got: got, err: err}
			return
		}
		nc.Write(toClient[12:]) // version, print(12), decref 1, answer None
		rest := make([]byte, 10)
		_, err = io.ReadFull(nc, rest)
		res <- result{got: append(got, rest...), err: err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	two := &seedTwo{got: make(chan int, 1)}
	if err := c.Root().Call(ctx, "takeTwo", nil, two); err != nil {
		t.Fatalf("takeTwo: %v", err)
	}
	if arg := <-two.got; arg != 12 {
		t.Errorf("print got %d, want 12", arg)
	}
	r := <-res
	if r.err != nil {
		t.Fatalf("fake server: %v", r.err)
	}
	if !bytes.Equal(r.got, want) {
		t.Errorf("client wrote\n% x\nwant (pb3client.py)\n% x", r.got, want)
	}
	// The server's decref gave back the one transmission of two.
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().Exports != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := c.Stats().Exports; n != 0 {
		t.Errorf("exports after the server's decref: %d, want 0", n)
	}
}

// The Go server, fed what pb3client.py sent, writes what pb3server.py wrote
// except the decref of two: Twisted sends it when CPython frees the
// reference, Go when the *rpc.Ref is released or collected.
func TestGoldenSeedServer(t *testing.T) {
	fromClient := readTestdata(t, "seed-client-to-server.bin")
	twisted := readTestdata(t, "seed-server-to-client.bin")
	decref := []byte{0x02, 0x80, 0x1d, 0x87, 0x01, 0x81}
	i := bytes.Index(twisted, decref)
	if i < 0 {
		t.Fatal("capture has no decref")
	}
	want := append(append([]byte(nil), twisted[:i]...), twisted[i+len(decref):]...)

	one := &seedOne{out: make(chan string, 1)}
	srv, err := NewServer(one)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	got := readN(t, nc, 12) // the offer comes first, unasked
	nc.Write(fromClient[:47])
	got = append(got, readN(t, nc, 6+27)...) // version, print(12)
	nc.Write(fromClient[47:])                // print's answer
	got = append(got, readN(t, nc, 10)...)   // takeTwo's answer
	if !bytes.Equal(got, want) {
		t.Errorf("server wrote\n% x\nwant (pb3server.py less its decref)\n% x", got, want)
	}
	if s := <-one.out; s != "received a Two called pb.Ref(1)" {
		t.Errorf("One printed %q", s)
	}
}

// fakePeer is a hand-driven PB server for one connection.
type fakePeer struct {
	t   *testing.T
	nc  net.Conn
	dec *bananaDecoder
	q   []any
}

// listenFake accepts one connection, sends the dialect offer and reads the
// client's choice.
func listenFake(t *testing.T) (addr string, peer chan *fakePeer) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	peer = make(chan *fakePeer, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		t.Cleanup(func() { nc.Close() })
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		nc.Write(bananaServerHello())
		p := &fakePeer{t: t, nc: nc, dec: newBananaDecoder(defaultBananaLimits)}
		if choice := p.next(); string(asBytes(choice)) != "pb" {
			t.Errorf("client chose %v", choice)
		}
		p.dec.setDialect(true)
		held, _ := p.dec.feed(nil)
		p.q = append(p.q, held...)
		p.send([]any{[]byte("version"), int64(6)})
		peer <- p
	}()
	return ln.Addr().String(), peer
}

// next returns the client's next expression.
func (p *fakePeer) next() any {
	for len(p.q) == 0 {
		buf := make([]byte, 4096)
		n, err := p.nc.Read(buf)
		if err != nil {
			return nil // the client hung up; the test checks what it needs
		}
		exprs, err := p.dec.feed(buf[:n])
		if err != nil {
			p.t.Errorf("fake peer decode: %v", err)
			return nil
		}
		p.q = append(p.q, exprs...)
	}
	e := p.q[0]
	p.q = p.q[1:]
	return e
}

func (p *fakePeer) send(cmd []any) {
	b, err := appendBanana(nil, cmd, true)
	if err != nil {
		p.t.Fatal(err)
	}
	p.nc.Write(b)
}

// A Twisted callee that returns the reference it was passed sends its
// decref before the answer ['local', n]: the object must still come home.
func TestDecrefBeforeAnswerKeepsArgument(t *testing.T) {
	addr, peers := listenFake(t)
	ctx := testContext(t)
	c, err := Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		p := <-peers
		for {
			cmd, _ := p.next().([]any)
			if cmd == nil {
				return
			}
			if string(asBytes(cmd[0])) != "message" {
				continue
			}
			// ['message', id, 'root', 'echoRef', 1, ['tuple', ['remote', n]], kw]
			n := cmd[5].([]any)[1].([]any)[1]
			p.send([]any{[]byte("decref"), n})
			p.send([]any{[]byte("answer"), cmd[1], []any{[]byte("local"), n}})
		}
	}()
	d := &doubler{}
	var home *doubler
	if err := c.Root().Call(ctx, "echoRef", &home, d); err != nil || home != d {
		t.Fatalf("echoRef = %p, %v; want %p", home, err, d)
	}
	if n := c.Stats().Exports; n != 0 {
		t.Errorf("exports after the answer: %d, want 0", n)
	}
}
