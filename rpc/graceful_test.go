package rpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// TestGracefulCloseIsShutdown: after Server.Close, or Conn.Close on either
// side, the peer's connection ends with an error matching ErrShutdown (and
// ErrConnectionLost), sent as a NORMAL GOAWAY, not an "internal error"; and
// neither side logs it above Debug.
func TestGracefulCloseIsShutdown(t *testing.T) {
	check := func(t *testing.T, who string, c *rpc.Conn, callErr error, logs ...*testutil.LogBuf) {
		t.Helper()
		select {
		case <-c.Done():
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the connection did not end", who)
		}
		for _, err := range []error{c.Err(), callErr} {
			if err == nil {
				continue
			}
			if !errors.Is(err, rpc.ErrShutdown) || !errors.Is(err, rpc.ErrConnectionLost) || strings.Contains(err.Error(), "internal error") {
				t.Errorf("%s: %v, want ErrShutdown and ErrConnectionLost, not an internal error", who, err)
			}
		}
		for _, l := range logs {
			for _, line := range strings.Split(l.String(), "\n") {
				if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=INFO") {
					t.Errorf("%s: logged %q", who, line)
				}
			}
		}
	}
	t.Run("server close", func(t *testing.T) {
		var slog, clog testutil.LogBuf
		calc := newCalc()
		srv, conn := pair(t, calc, []rpc.Option{rpc.WithLogger(slog.Logger())}, rpc.WithLogger(clog.Logger()))
		errc := make(chan error, 1)
		go func() { errc <- conn.Root().Call(context.Background(), "block", nil) }()
		<-calc.started
		srv.Close()
		check(t, "client after Server.Close", conn, <-errc, &slog, &clog)
	})
	t.Run("client close", func(t *testing.T) {
		var slog, clog testutil.LogBuf
		srv, conn := pair(t, newCalc(), []rpc.Option{rpc.WithLogger(slog.Logger())}, rpc.WithLogger(clog.Logger()))
		sc := serverConn(t, srv)
		conn.Close()
		check(t, "server after the client's Conn.Close", sc, nil, &slog, &clog)
	})
	t.Run("server conn close", func(t *testing.T) {
		srv, conn := pair(t, newCalc(), nil)
		serverConn(t, srv).Close()
		check(t, "client after the server's Conn.Close", conn, nil)
	})
}
