package rpc

import (
	"errors"
	"strings"
	"testing"

	"github.com/fireflyrpc/firefly/transport"
)

// panicSource panics on every read, standing for a defect met while a
// message is parsed.
type panicSource struct{}

func (panicSource) Read([]byte) (int, error) { panic("defect") }
func (panicSource) ReadByte() (byte, error)  { panic("defect") }

// TestMessagePanicIsAViolation: a panic while a message is parsed outside
// gob ends the connection as a protocol violation, with the panic as its
// reason, instead of leaving the lane.
func TestMessagePanicIsAViolation(t *testing.T) {
	in := &inLane{c: &Conn{opts: newOptions(nil)}}
	in.mr.Reset(panicSource{}, 8)
	err := in.message()
	var pe *transport.ProtocolError
	if !errors.As(err, &pe) || !errors.Is(err, ErrProtocol) || !strings.Contains(pe.Reason, "panic parsing a message: defect") {
		t.Fatalf("message() = %v, want a *transport.ProtocolError matching ErrProtocol naming the panic", err)
	}
}
