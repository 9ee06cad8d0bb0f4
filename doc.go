// Package firefly is a Go library that brings Twisted's Perspective Broker
// (PB) and Firefly's distributed game-server RPC to Go.
//
// The library is layered; each layer is its own package:
//
//   - transport: one TCP connection (any net.Conn) carries many framed,
//     flow-controlled streams in both directions, with keepalive and graceful
//     close. The wire format is specified in docs/PROTOCOL.md.
//   - registry: reflection turns a value into a table of remotely callable
//     methods. Only methods named RemoteXxx are reachable, exposed as Xxx
//     (and as xxx, so code ported from PB reads the same).
//   - rpc: the broker. Every connection is symmetric: either side may offer a
//     root object and call the other's, pass local objects by reference and
//     call them back. On top of it, Firefly's layer: Service, Root, Node,
//     Child, ChildManager and ProxyReference.
//
// # Names
//
// Twisted PB and Firefly names map to firefly as follows:
//
//	PB / Firefly                      firefly
//	pb.Root, PBServerFactory(root)    rpc.NewServer(root), Server.Serve
//	PBClientFactory, getRootObject    rpc.Dial, Conn.Root
//	pb.Referenceable                  embed rpc.Referenceable
//	remote_xxx                        method RemoteXxx, called as "xxx" or "Xxx"
//	RemoteReference.callRemote        Ref.Call, Ref.Go, Ref.Send (one-way)
//	notifyOnDisconnect                Ref.NotifyOnDisconnect, Conn.NotifyOnDisconnect
//	PBConnectionLost                  rpc.ErrConnectionLost
//	pb.Error                          rpc.Expected
package firefly
