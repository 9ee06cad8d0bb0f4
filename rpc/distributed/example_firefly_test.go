package distributed_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// A Service maps targets by name or by numeric command id, and runs them
// locally with CallTarget or for a peer holding a reference to it.
func ExampleService() {
	ctx := context.Background()
	svc := distributed.NewService("game")
	if err := svc.Map("echo", func(s string) string { return s }); err != nil {
		log.Fatal(err)
	}
	if err := svc.MapID(101, func(a, b int) int { return a + b }); err != nil {
		log.Fatal(err)
	}

	var s string
	if err := svc.CallTarget(ctx, "echo", &s, "hello"); err != nil {
		log.Fatal(err)
	}
	var sum int
	if err := svc.CallTarget(ctx, 101, &sum, 2, 3); err != nil {
		log.Fatal(err)
	}
	err := svc.CallTarget(ctx, 404, nil)
	fmt.Println(s, sum)
	fmt.Println(errors.Is(err, rpc.ErrNoSuchMethod), err)
	fmt.Println(svc.Targets())
	// Output:
	// hello 5
	// true rpc: no such method: "404" in service "game"
	// [101 Echo]
}

// A Root accepts nodes, learns of them through its hooks and calls their
// services; each node calls the root's service.
func ExampleRoot() {
	ctx := context.Background()
	root, err := distributed.NewRoot()
	if err != nil {
		log.Fatal(err)
	}
	defer root.Close()
	connected := make(chan string, 1)
	lost := make(chan string, 1)
	root.OnChildConnect(func(c *distributed.Child) { connected <- c.Name() })
	root.OnChildLost(func(c *distributed.Child) { lost <- c.Name() })
	root.Service().MapID(1, func(name string) string { return "welcome, " + name })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go root.Serve(ln)

	game := distributed.NewNode("game1")
	game.Service().Map("score", func(player string) int { return len(player) * 10 })
	if err := game.Connect(ctx, ln.Addr().String()); err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected:", <-connected)

	var score int
	if err := root.CallChild(ctx, "game1", "score", &score, "alice"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("score:", score)
	err = root.CallChild(ctx, "game2", "score", &score, "bob")
	fmt.Println(errors.Is(err, distributed.ErrNoSuchChild))

	game.Close()
	fmt.Println("lost:", <-lost)
	// Output:
	// connected: game1
	// score: 50
	// true
	// lost: game1
}

// A Node connects to a root, calls the root's service, and serves its own
// to the root. It reconnects by itself if the connection drops.
func ExampleNode() {
	ctx := context.Background()
	root, err := distributed.NewRoot()
	if err != nil {
		log.Fatal(err)
	}
	defer root.Close()
	// The gate forwards command 1001 to the game node that owns it.
	root.Service().MapID(1001, func(ctx context.Context, player string) (string, error) {
		var room string
		err := root.CallChild(ctx, "game", "joinRoom", &room, player)
		return room, err
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go root.Serve(ln)
	addr := ln.Addr().String()

	game := distributed.NewNode("game")
	defer game.Close()
	game.Service().Map("joinRoom", func(player string) string { return player + " joined room 7" })
	if err := game.Connect(ctx, addr); err != nil {
		log.Fatal(err)
	}

	front := distributed.NewNode("net")
	defer front.Close()
	if err := front.Connect(ctx, addr); err != nil {
		log.Fatal(err)
	}
	var reply string
	if err := front.CallRemote(ctx, 1001, &reply, "alice"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply)
	// Output:
	// alice joined room 7
}
