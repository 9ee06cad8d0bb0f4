package transport_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/fireflyrpc/firefly/transport"
)

func Example() {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()

	// Server: accept one session, echo every stream back.
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		sess, err := transport.Server(ctx, conn, nil)
		if err != nil {
			return
		}
		defer sess.Close()
		for {
			st, err := sess.Accept(ctx)
			if err != nil {
				return
			}
			go func() {
				defer st.Close()
				io.Copy(st, st) // echo until the client's CloseWrite
			}()
		}
	}()

	// Client: open a stream, send, half-close, read the echo.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	sess, err := transport.Client(ctx, conn, nil)
	if err != nil {
		panic(err)
	}
	defer sess.Close()
	st, err := sess.Open(ctx)
	if err != nil {
		panic(err)
	}
	st.Write([]byte("hello, firefly"))
	st.CloseWrite()
	reply, err := io.ReadAll(st)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(reply))
	// Output: hello, firefly
}
