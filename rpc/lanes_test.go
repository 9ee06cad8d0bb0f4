package rpc_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/transport"
)

// A violation of the rpc protocol (part 2 of docs/PROTOCOL.md) reaches the
// peer as one GOAWAY with the code PROTOCOL_ERROR and the reason.
func TestRPCViolationIsProtocolError(t *testing.T) {
	var log logBuf
	_, addr := secServe(t, &secRoot{}, rpc.WithLogger(log.logger()))
	p := dialRaw(t, addr, nil)
	st, err := p.lane(secCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	st.Write(msg(9)) // unknown message type
	select {
	case <-p.sess.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept the connection")
	}
	var ge *transport.GoAwayError
	if err := p.sess.Err(); !errors.As(err, &ge) {
		t.Fatalf("session ended with %v, want a GOAWAY from the server", err)
	}
	if ge.Code != transport.GoAwayProtocolError {
		t.Fatalf("GOAWAY %v %q, want %v", ge.Code, ge.Reason, transport.GoAwayProtocolError)
	}
	if ge.Reason != "rpc: protocol violation: unknown message type 9" {
		t.Fatalf("GOAWAY reason %q", ge.Reason)
	}
}
