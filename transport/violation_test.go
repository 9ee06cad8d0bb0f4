package transport

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// goAwaysUntilEOF reads every frame p receives until the connection ends and
// returns the GOAWAY frames among them.
func goAwaysUntilEOF(p *rawPeer) []rawFrame {
	var gs []rawFrame
	for {
		f, err := p.read()
		if err != nil {
			return gs
		}
		if f.h.typ() == typeGoAway {
			gs = append(gs, f)
		}
	}
}

// One bad frame ends the session with exactly one GOAWAY, PROTOCOL_ERROR
// with the reason, even when the layer above closes the session with an error
// of its own as soon as it sees it end (as the rpc layer does).
func TestOneGoAwayAfterViolation(t *testing.T) {
	const conns = 50
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		s, p := newRawClient(t, nil)
		go func() {
			<-s.Done()
			s.CloseWithError(s.Err())
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.write(typePing, 0, 0, make([]byte, 7))
			gs := goAwaysUntilEOF(p)
			p.conn.Close()
			if len(gs) != 1 {
				var desc []string
				for _, g := range gs {
					code, reason := g.goAway()
					desc = append(desc, fmt.Sprintf("%v %q", code, reason))
				}
				errs <- fmt.Errorf("connection %d: %d GOAWAY frames, want 1: %v", i, len(gs), desc)
				return
			}
			if code, _ := gs[0].goAway(); code != GoAwayProtocolError {
				errs <- fmt.Errorf("connection %d: GOAWAY %v, want %v", i, code, GoAwayProtocolError)
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		n++
		if n <= 5 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d connections went wrong", n, conns)
	}
}

// CloseWithViolation sends GOAWAY PROTOCOL_ERROR with the error's text: a
// layer above the transport reports its own protocol violations with it.
func TestCloseWithViolation(t *testing.T) {
	s, p := newRawClient(t, nil)
	bad := errors.New("rpc: protocol violation: unknown message type 9")
	s.CloseWithViolation(bad)
	gs := goAwaysUntilEOF(p)
	if len(gs) != 1 {
		t.Fatalf("%d GOAWAY frames, want 1", len(gs))
	}
	if code, reason := gs[0].goAway(); code != GoAwayProtocolError || reason != bad.Error() {
		t.Fatalf("GOAWAY %v %q, want %v %q", code, reason, GoAwayProtocolError, bad.Error())
	}
	if err := s.Err(); !errors.Is(err, bad) {
		t.Fatalf("Err %v, want %v", err, bad)
	}
}
