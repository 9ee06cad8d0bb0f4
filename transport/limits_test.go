package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOpenStreamLimit(t *testing.T) {
	// The server allows 3 inbound streams; the client must respect that
	// even though its own limit is higher.
	c, s := sessionPair(t, nil, &Config{MaxStreams: 3})
	ctx := testCtx(t)
	var open []*Stream
	for range 3 {
		st, err := c.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, st)
	}
	if _, err := c.Open(ctx); !errors.Is(err, ErrStreamLimit) {
		t.Fatalf("4th open: %v, want ErrStreamLimit", err)
	}
	// Finishing a stream frees a slot.
	open[0].Reset()
	if _, err := c.Open(ctx); err != nil {
		t.Fatalf("open after a reset: %v", err)
	}
	_ = s
}

// A peer that opens beyond the advertised limit is refused with a reset;
// one that keeps doing so is a protocol violation.
func TestPeerExceedsStreamLimit(t *testing.T) {
	s, p := newRawClient(t, &Config{MaxStreams: 2})
	p.write(typeData, flagSYN, 1, []byte("a"))
	p.write(typeData, flagSYN, 3, []byte("b"))
	p.write(typeData, flagSYN, 5, []byte("c"))
	f := p.next()
	if f.h.typ() != typeData || f.h.flags()&flagRST == 0 || f.h.streamID() != 5 ||
		ResetCode(binary.BigEndian.Uint32(f.payload)) != ResetRefused {
		t.Fatalf("got %v %x, want RST(refused) on stream 5", &f.h, f.payload)
	}
	if n := s.NumStreams(); n != 2 {
		t.Fatalf("NumStreams %d, want 2", n)
	}
	for id := uint32(7); id < 7+2*(maxLimitRefusals+1); id += 2 {
		p.write(typeData, flagSYN, id, nil)
	}
	pe := expectProtocolError(t, s)
	if !strings.Contains(pe.Reason, "beyond the limit") {
		t.Fatalf("reason %q", pe.Reason)
	}
	if code, _ := p.expectGoAway(); code != GoAwayProtocolError {
		t.Fatalf("GOAWAY code %v", code)
	}
}

// Streams beyond the accept backlog are refused; the opener's Read sees the
// reset, and the backlog's streams are still delivered.
func TestAcceptBacklog(t *testing.T) {
	c, s := sessionPair(t, nil, &Config{AcceptBacklog: 2})
	ctx := testCtx(t)
	var streams []*Stream
	for i := range 3 {
		st, err := c.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Write([]byte{byte('a' + i)})
		streams = append(streams, st)
	}
	_, err := streams[2].Read(make([]byte, 1))
	var re *StreamResetError
	if !errors.As(err, &re) || re.Code != ResetRefused || !re.Remote {
		t.Fatalf("3rd stream read: %v, want a refused reset", err)
	}
	for i := range 2 {
		st, err := s.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1)
		if _, err := io.ReadFull(st, buf); err != nil || buf[0] != byte('a'+i) {
			t.Fatalf("accepted stream %d: %q, %v", i, buf, err)
		}
	}
	// With room again, new streams are accepted.
	openAccept(t, c, s, "again")
}

func TestFrameTooLarge(t *testing.T) {
	s, p := newRawClient(t, &Config{MaxFrameSize: 4096})
	p.write(typeData, flagSYN, 1, make([]byte, 4097))
	pe := expectProtocolError(t, s)
	if !errors.Is(pe, ErrFrameTooLarge) || !errors.Is(s.Err(), ErrFrameTooLarge) {
		t.Fatalf("error %v does not match ErrFrameTooLarge", pe)
	}
	code, reason := p.expectGoAway()
	if code != GoAwayProtocolError || !strings.Contains(reason, "exceeds max frame size") {
		t.Fatalf("GOAWAY %v %q", code, reason)
	}
}

func TestWindowOverrun(t *testing.T) {
	s, p := newRawClient(t, &Config{InitialWindow: 8192, MaxFrameSize: 4096})
	accepted := make(chan *Stream, 1)
	go func() {
		st, _ := s.Accept(context.Background())
		accepted <- st
	}()
	p.write(typeData, flagSYN, 1, make([]byte, 4096))
	p.write(typeData, 0, 1, make([]byte, 4096))
	st := <-accepted
	// Reading 1 KiB grants nothing yet (below the quarter-window threshold)...
	if _, err := io.ReadFull(st, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	// ...so one more byte overruns the window.
	p.write(typeData, 0, 1, []byte{1})
	pe := expectProtocolError(t, s)
	if !strings.Contains(pe.Reason, "overran its window") {
		t.Fatalf("reason %q", pe.Reason)
	}
	// Streams fail with an error matching ErrConnectionLost and the cause.
	_, err := io.ReadAll(st)
	if !errors.Is(err, ErrConnectionLost) || !errors.As(err, &pe) {
		t.Fatalf("stream read after violation: %v", err)
	}
}

// Each of these inputs is a protocol violation that closes the session with
// a *ProtocolError and a GOAWAY carrying the reason.
func TestProtocolViolations(t *testing.T) {
	frame := func(typ frameType, flags uint8, id uint32, payload []byte) []byte {
		return append(appendHeader(nil, typ, flags, id, uint32(len(payload))), payload...)
	}
	cases := []struct {
		name, reason string
		input        []byte
	}{
		{"data on stream 0", "stream 0", frame(typeData, flagSYN, 0, nil)},
		{"unknown type", "unknown frame type", frame(9, 0, 0, nil)},
		{"wrong parity", "parity", frame(typeData, flagSYN, 2, nil)},
		{"never opened", "never opened", frame(typeData, 0, 7, []byte("x"))},
		{"id not increasing", "not above", append(frame(typeData, flagSYN, 5, nil), frame(typeData, flagSYN, 3, nil)...)},
		{"data after fin", "after its FIN", append(frame(typeData, flagSYN|flagFIN, 1, nil), frame(typeData, 0, 1, []byte("x"))...)},
		{"short rst", "RST frame", frame(typeData, flagRST, 1, []byte{1})},
		{"window update 0", "WINDOW_UPDATE of 0", append(frame(typeData, flagSYN, 1, nil), frame(typeWindowUpdate, 0, 1, u32(0))...)},
		{"window overflow", "overflows", append(frame(typeData, flagSYN, 1, nil), frame(typeWindowUpdate, 0, 1, u32(MaxWindow))...)},
		{"window update bad length", "WINDOW_UPDATE with", frame(typeWindowUpdate, 0, 1, []byte{1})},
		{"window update for unopened", "never opened", frame(typeWindowUpdate, 0, 9, u32(1))},
		{"ping on a stream", "PING on stream", frame(typePing, 0, 1, make([]byte, 8))},
		{"ping bad length", "PING with", frame(typePing, 0, 0, make([]byte, 4))},
		{"goaway short", "GOAWAY with", frame(typeGoAway, 0, 0, make([]byte, 4))},
		{"goaway too long", "exceeds", frame(typeGoAway, 0, 0, make([]byte, goAwayMaxLen+1))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, p := newRawClient(t, nil)
			go func() {
				for {
					if _, err := s.Accept(context.Background()); err != nil {
						return
					}
				}
			}()
			p.writeBytes(tc.input)
			pe := expectProtocolError(t, s)
			if !strings.Contains(pe.Reason, tc.reason) {
				t.Fatalf("reason %q, want it to mention %q", pe.Reason, tc.reason)
			}
			if code, reason := p.expectGoAway(); code != GoAwayProtocolError || reason != pe.Reason {
				t.Fatalf("GOAWAY %v %q", code, reason)
			}
		})
	}
}

// Frames for streams that existed and are finished are ignored, also
// right after frames for the same stream.
func TestLateFramesIgnored(t *testing.T) {
	s, p := newRawClient(t, nil)
	p.write(typeData, flagSYN, 1, []byte("x"))
	st, err := s.Accept(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	p.write(typeData, 0, 1, []byte("yz"))
	got := make([]byte, 3)
	if _, err := io.ReadFull(st, got); err != nil || string(got) != "xyz" {
		t.Fatalf("read %q, %v", got, err)
	}
	st.Reset()
	p.write(typeData, 0, 1, []byte("late data"))
	p.write(typeWindowUpdate, 0, 1, u32(100))
	p.write(typeData, flagRST, 1, u32(0))
	p.write(typeData, flagSYN, 3, []byte("y"))
	st3, err := s.Accept(testCtx(t))
	if err != nil || st3.ID() != 3 {
		t.Fatalf("accept after late frames: %v", err)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestBadPreface(t *testing.T) {
	cc, sc := tcpPair(t)
	defer cc.Close()
	go cc.Write([]byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"))
	start := time.Now()
	_, err := Server(context.Background(), sc, nil)
	if !errors.Is(err, ErrBadPreface) {
		t.Fatalf("err %v, want ErrBadPreface", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("took %v to refuse", time.Since(start))
	}
	// The conn was closed: the peer reads EOF.
	cc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(cc); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatal(err)
	}
}

func TestPrefaceRejects(t *testing.T) {
	good := func() []byte { return appendPreface(nil, roleClient, rawSettings()) }
	mod := func(f func(b []byte)) []byte { b := good(); f(b); return b }
	cases := map[string][]byte{
		"version":      mod(func(b []byte) { b[8] = 2 }),
		"same role":    mod(func(b []byte) { b[9] = roleServer }),
		"unknown role": mod(func(b []byte) { b[9] = 7 }),
		"tiny frame":   mod(func(b []byte) { binary.BigEndian.PutUint32(b[12:], 10) }),
		"huge frame":   mod(func(b []byte) { binary.BigEndian.PutUint32(b[12:], MaxFrameSizeLimit+1) }),
		"tiny window":  mod(func(b []byte) { binary.BigEndian.PutUint32(b[16:], 1) }),
		"no streams":   mod(func(b []byte) { binary.BigEndian.PutUint32(b[20:], 0) }),
		"short":        good()[:10],
	}
	for name, input := range cases {
		t.Run(name, func(t *testing.T) {
			cc, sc := net.Pipe()
			go func() {
				cc.Write(input)
				cc.Close()
			}()
			go io.Copy(io.Discard, cc)
			_, err := Server(context.Background(), sc, nil)
			if !errors.Is(err, ErrBadPreface) {
				t.Fatalf("err %v, want ErrBadPreface", err)
			}
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	cc, sc := tcpPair(t)
	defer cc.Close()
	start := time.Now()
	_, err := Server(context.Background(), sc, &Config{HandshakeTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrHandshakeTimeout) {
		t.Fatalf("silent peer: %v, want ErrHandshakeTimeout", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond || d > 3*time.Second {
		t.Fatalf("took %v", d)
	}

	// The context bounds it too: its deadline...
	cc2, sc2 := tcpPair(t)
	defer cc2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = Client(ctx, sc2, nil)
	if !errors.Is(err, ErrHandshakeTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ctx deadline: %v", err)
	}
	// ...and its cancellation.
	cc3, sc3 := tcpPair(t)
	defer cc3.Close()
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = Client(ctx, sc3, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ctx cancel: %v", err)
	}
}

func TestOpenAcceptContext(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Open(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("open with cancelled ctx: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Accept(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("accept: %v, want DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := c.Accept(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("accept: %v, want Canceled", err)
	}
}

func TestPing(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	for _, sess := range []*Session{c, s} {
		rtt, err := sess.Ping(testCtx(t))
		if err != nil || rtt <= 0 {
			t.Fatalf("ping: %v, %v", rtt, err)
		}
	}
	s.Close()
	waitDone(t, c, 5*time.Second)
	if _, err := c.Ping(testCtx(t)); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("ping on a dead session: %v", err)
	}
}

// Closing a session fails every pending call: locally with ErrSessionClosed,
// on the peer with ErrConnectionLost.
func TestCloseFailsEverything(t *testing.T) {
	c, s := sessionPair(t, &Config{InitialWindow: 64 << 10}, &Config{InitialWindow: 64 << 10})
	ctx := testCtx(t)
	a, b := openAccept(t, c, s, "x")
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	call := func(f func() error) {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- f() }()
	}
	call(func() error { _, err := a.Read(make([]byte, 1)); return err })
	call(func() error {
		for {
			if _, err := a.Write(make([]byte, 1<<20)); err != nil {
				return err
			}
		}
	})
	call(func() error { _, err := c.Accept(ctx); return err })
	call(func() error {
		buf := make([]byte, 4096)
		for {
			if _, err := b.Read(buf); err != nil {
				return err
			}
		}
	})
	time.Sleep(20 * time.Millisecond) // let them block (they must fail either way)
	c.Close()
	wg.Wait()
	close(errs)
	var local, remote int
	for err := range errs {
		switch {
		case errors.Is(err, ErrSessionClosed):
			local++
		case errors.Is(err, ErrConnectionLost):
			remote++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if local != 3 || remote != 1 {
		t.Fatalf("local %d (want 3), remote %d (want 1)", local, remote)
	}
	if !errors.Is(c.Err(), ErrSessionClosed) {
		t.Fatalf("Err %v", c.Err())
	}
	if err := waitDone(t, s, 5*time.Second); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("peer Err %v", err)
	}
	if _, err := c.Open(ctx); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("open after close: %v", err)
	}
}

func TestCloseWithError(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	a, _ := openAccept(t, c, s, "x")
	cause := errors.New("shutting down for maintenance")
	c.CloseWithError(cause)
	if err := c.Err(); err != cause {
		t.Fatalf("Err %v", err)
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, ErrSessionClosed) || !errors.Is(err, cause) {
		t.Fatalf("stream read: %v", err)
	}
	err := waitDone(t, s, 5*time.Second)
	if !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), "maintenance") {
		t.Fatalf("peer Err %v, want the reason", err)
	}
}
