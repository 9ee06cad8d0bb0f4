package sockets

import (
	"net"
	"testing"
)

// A TCP connection's descriptor is given; a connection with none (a pipe)
// gets nil.
func TestRaw(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if Raw(c) == nil {
		t.Error("Raw of a TCP connection = nil")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Raw(a) != nil {
		t.Error("Raw of a pipe is not nil")
	}
}
