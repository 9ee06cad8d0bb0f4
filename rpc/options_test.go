package rpc_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/transport"
)

// TestOptionsValidated: NewServer, Dial and NewConn refuse an option value
// they cannot honour with an *rpc.OptionError naming the option (matching
// rpc.ErrBadOption), before any connection is made.
func TestOptionsValidated(t *testing.T) {
	badTransport := transport.DefaultConfig()
	badTransport.MaxFrameSize = 1
	cases := []struct {
		opt  rpc.Option
		name string
	}{
		{rpc.WithMaxLanes(0), "WithMaxLanes"},
		{rpc.WithMaxLanes(-1), "WithMaxLanes"},
		{rpc.WithMaxHandlers(0), "WithMaxHandlers"},
		{rpc.WithMaxHandlers(1 << 30), "WithMaxHandlers"},
		{rpc.WithMaxMessageSize(-1), "WithMaxMessageSize"},
		{rpc.WithMaxMessageSize(0), "WithMaxMessageSize"},
		{rpc.WithMaxPendingCalls(0), "WithMaxPendingCalls"},
		{rpc.WithMaxPendingCalls(1 << 30), "WithMaxPendingCalls"},
		{rpc.WithMaxExports(-1), "WithMaxExports"},
		{rpc.WithMaxHandshakes(0), "WithMaxHandshakes"},
		{rpc.WithIdleTimeout(-1), "WithIdleTimeout"},
		{rpc.WithTransportConfig(badTransport), "WithTransportConfig"},
	}
	if huge := uint64(4<<30 + 10); uint64(int(huge)) == huge { // int holds it
		cases = append(cases, struct {
			opt  rpc.Option
			name string
		}{rpc.WithMaxMessageSize(int(huge)), "WithMaxMessageSize"}) // past a uint32 length
	}
	check := func(t *testing.T, where, name string, err error) {
		t.Helper()
		var oe *rpc.OptionError
		if !errors.As(err, &oe) || oe.Option != name || !errors.Is(err, rpc.ErrBadOption) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s with a bad %s = %v, want an *rpc.OptionError naming it", where, name, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // never accepts: a dial that got this far would hang
	for _, tc := range cases {
		_, err := rpc.NewServer(nil, tc.opt)
		check(t, "NewServer", tc.name, err)
		ctx, cancel := context.WithTimeout(context.Background(), 5e9)
		_, err = rpc.Dial(ctx, "tcp", ln.Addr().String(), tc.opt)
		cancel()
		check(t, "Dial", tc.name, err)
		a, b := net.Pipe()
		_, err = rpc.NewConn(context.Background(), a, tc.opt)
		a.Close()
		b.Close()
		check(t, "NewConn", tc.name, err)
	}
	// The limits themselves are accepted.
	if _, err := rpc.NewServer(nil, rpc.WithMaxLanes(1), rpc.WithMaxHandlers(1), rpc.WithMaxMessageSize(1<<30),
		rpc.WithMaxPendingCalls(1), rpc.WithMaxExports(0)); err != nil {
		t.Fatalf("NewServer at the limits = %v", err)
	}
}
