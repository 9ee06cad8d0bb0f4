// Command pbdemo is the seed's Perspective Broker example, in Go: the server's
// root object One has a method takeTwo; the client passes it its own Two by
// reference; One calls Two back over the same connection.
//
// With no flags, server and client run in one process:
//
//	go run ./cmd/pbdemo
//
// As two processes:
//
//	go run ./cmd/pbdemo -serve :8800
//	go run ./cmd/pbdemo -connect localhost:8800
//
// With -wire pb the same One and Two speak Twisted's own PB wire (package
// rpc/pb), so either side can be the Twisted docs' pb3server.py or
// pb3client.py:
//
//	go run ./cmd/pbdemo -wire pb -serve :8800     # then: python3 pb3client.py
//	go run ./cmd/pbdemo -wire pb -connect localhost:8800   # against pb3server.py
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/pb"
)

// One is the server's root object (the seed's pb.Root).
type One struct{}

// RemoteTakeTwo receives a reference to the client's Two and calls it back.
func (o *One) RemoteTakeTwo(ctx context.Context, two *rpc.Ref) error {
	fmt.Println("received a Two called", two)
	fmt.Println("telling it to print(12)")
	return two.Call(ctx, "print", nil, 12)
}

// Two lives on the client and is passed by reference (the seed's
// pb.Referenceable).
type Two struct{ rpc.Referenceable }

// RemotePrint prints its argument.
func (t *Two) RemotePrint(arg int) {
	fmt.Println("Two.print() called with", arg)
}

func main() {
	serve := flag.String("serve", "", "serve One on this address (e.g. :8800)")
	connect := flag.String("connect", "", "connect to a One at this address and hand it a Two")
	wire := flag.String("wire", "firefly", "the wire protocol: firefly (this module's own) or pb (Twisted's)")
	flag.Parse()
	log.SetFlags(0)
	switch *wire {
	case "firefly":
	case "pb":
		if err := pbMain(*serve, *connect); err != nil {
			log.Fatal(err)
		}
		return
	default:
		log.Fatalf("unknown -wire %q: firefly or pb", *wire)
	}

	switch {
	case *serve != "":
		ln, err := net.Listen("tcp", *serve)
		if err != nil {
			log.Fatal(err)
		}
		// Introspection lets "firefly methods -addr" list One's methods.
		srv, err := rpc.NewServer(&One{}, rpc.WithIntrospection(true))
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt)
			<-sig
			srv.Close()
		}()
		fmt.Println("serving One on", ln.Addr())
		if err := srv.Serve(ln); err != nil && err != rpc.ErrServerClosed {
			log.Fatal(err)
		}
	case *connect != "":
		if err := client(*connect); err != nil {
			log.Fatal(err)
		}
	default:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		srv, err := rpc.NewServer(&One{})
		if err != nil {
			log.Fatal(err)
		}
		go srv.Serve(ln)
		defer srv.Close()
		if err := client(ln.Addr().String()); err != nil {
			log.Fatal(err)
		}
	}
}

// client connects, gets the root object and hands it a Two.
func client(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rpc.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	one := conn.Root()
	fmt.Println("got One:", one)
	fmt.Println("giving it our two")
	return one.Call(ctx, "takeTwo", nil, &Two{})
}

// pbMain is main with -wire pb.
func pbMain(serve, connect string) error {
	switch {
	case serve != "":
		ln, err := net.Listen("tcp", serve)
		if err != nil {
			return err
		}
		srv, err := pb.NewServer(&One{})
		if err != nil {
			return err
		}
		go func() {
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt)
			<-sig
			srv.Close()
		}()
		fmt.Println("serving One on", ln.Addr(), "(Twisted PB wire)")
		if err := srv.Serve(ln); err != nil && err != pb.ErrServerClosed {
			return err
		}
		return nil
	case connect != "":
		return pbClient(connect)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv, err := pb.NewServer(&One{})
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	defer srv.Close()
	return pbClient(ln.Addr().String())
}

// pbClient is client on Twisted's wire. A Twisted One does not wait for
// print's answer before answering takeTwo, so the client waits for the
// calls it is handling to finish before it hangs up.
func pbClient(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pb.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	one := conn.Root()
	fmt.Println("got One:", one)
	fmt.Println("giving it our two")
	if err := one.Call(ctx, "takeTwo", nil, &Two{}); err != nil {
		return err
	}
	for conn.Stats().Handlers > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
