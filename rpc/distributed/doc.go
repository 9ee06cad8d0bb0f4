// Package distributed is Firefly's distributed layer (firefly.distributed),
// built on package rpc's public API: a Root that named Nodes join, each
// with a Service of targets the other side calls by name or command id.
//
// A Root serves nodes (NewRoot, Root.Serve). A Node connects to a root
// (NewNode, Node.Connect), hands it a ProxyReference to its own Service with
// the "takeProxy" handshake, and reconnects by itself when the connection is
// lost. The root sees each node as a Child, kept in a ChildManager, and
// calls it (Root.CallChild, Root.SendChild, Root.Broadcast); the node calls
// the root's Service (Node.CallRemote, Node.SendRemote):
//
//	root, _ := distributed.NewRoot()
//	root.Service().MapID(1001, func(ctx context.Context, player string) (string, error) {
//		var room string
//		err := root.CallChild(ctx, "game1", "joinRoom", &room, player)
//		return room, err
//	})
//	go root.Serve(ln)
//
//	game := distributed.NewNode("game1")
//	game.Service().Map("joinRoom", func(player string) string { return player + " joined" })
//	game.Connect(ctx, addr)
//
// One Option type configures all three (NewRoot, NewNode, NewService); each
// option says which it applies to. Options of the connections underneath
// pass through WithServerOptions (a Root's server) and WithDialOptions (a
// Node's connections). Errors from the other side match package rpc's
// sentinels, and this package's (ErrNoSuchChild, ErrNameTaken, ...), with
// errors.Is.
//
// A Node reaches its root over firefly's own wire unless WithDialer gives it
// another way: package rpc/pb's NodeDialer joins a Python Firefly root over
// Twisted's PB wire, with the same reconnection, hooks and calls; and a
// Root's children may come over either wire (rpc/pb's FireflyRoot serves
// Firefly's PB nodes to a Root).
package distributed
