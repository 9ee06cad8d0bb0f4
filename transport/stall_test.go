package transport

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// A session whose queued data makes no progress for SendStallTimeout is
// closed with ErrSendStalled: a peer that reads the socket and answers PINGs
// but never grants credit, and a peer that stops reading altogether.
func TestSendStallCloses(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SendStallTimeout = 300 * time.Millisecond
	cfg.KeepAliveInterval = 50 * time.Millisecond

	t.Run("no credit", func(t *testing.T) {
		s, p := newRawServer(t, &cfg, settings{maxFrame: MaxFrameSizeLimit, window: MinWindow, maxStreams: 16})
		// The peer reads everything and answers PINGs, and sends no
		// WINDOW_UPDATE.
		goAway := make(chan string, 1)
		go func() {
			for {
				f, err := p.read()
				if err != nil {
					return
				}
				switch f.h.typ() {
				case typePing:
					if f.h.flags()&flagACK == 0 {
						p.write(typePing, flagACK, 0, f.payload)
					}
				case typeGoAway:
					_, reason := f.goAway()
					goAway <- reason
				}
			}
		}()
		st, err := s.Open(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = st.WriteContext(ctx, make([]byte, 4*MinWindow))
		if !errors.Is(err, ErrSendStalled) || !errors.Is(err, ErrConnectionLost) {
			t.Fatalf("write to a peer that grants no credit: %v, want ErrSendStalled", err)
		}
		if err := waitDone(t, s, 5*time.Second); !errors.Is(err, ErrSendStalled) {
			t.Fatalf("session Err %v, want ErrSendStalled", err)
		}
		select {
		case reason := <-goAway:
			if !strings.Contains(reason, "stalled") {
				t.Fatalf("GOAWAY reason %q does not say the send stalled", reason)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no GOAWAY")
		}
	})

	t.Run("not reading", func(t *testing.T) {
		s, p := newRawServer(t, &cfg, rawSettings())
		p.conn.(*net.TCPConn).SetReadBuffer(16 << 10)
		st, err := s.Open(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		// Keep the peer alive for keepalive: it sends PINGs and reads nothing.
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				b := appendPing(nil, false, 1)
				if _, err := p.conn.Write(b); err != nil {
					return
				}
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var werr error
		for werr == nil {
			_, werr = st.WriteContext(ctx, make([]byte, 1<<20))
		}
		if !errors.Is(werr, ErrSendStalled) {
			t.Fatalf("write to a peer that does not read: %v, want ErrSendStalled", werr)
		}
	})
}
