package netconnect_test

import (
	"context"
	"fmt"
	"net"

	"github.com/fireflyrpc/firefly/rpc/netconnect"
)

// A server that welcomes players under command 1001 and pushes news to
// every client, and a Go client of it.
func Example() {
	srv := netconnect.NewServer(netconnect.WithMaxSessions(1000))
	srv.Service().Handle(1001, func(ctx context.Context, s *netconnect.Session, command uint32, body []byte) ([]byte, error) {
		s.Set("player", string(body))
		return fmt.Appendf(nil, "welcome, %s", body), nil // the reply, command 1001
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	go srv.Serve(ctx, ln)
	defer srv.Shutdown(ctx)

	c, err := netconnect.Dial(ctx, ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	reply, err := c.Request(ctx, 1001, []byte("alice"))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(reply))

	srv.Broadcast(2001, []byte("the dragon is awake")) // a push, topic 2001
	p, err := c.Recv(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Command, string(p.Body))
	// Output:
	// welcome, alice
	// 2001 the dragon is awake
}
