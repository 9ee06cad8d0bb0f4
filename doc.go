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
//     call them back.
//   - rpc/distributed: Firefly's layer, built on rpc's public API: Service,
//     Root, Node, Child, ChildManager and ProxyReference.
//   - rpc/cluster: Firefly's master and servers, on rpc/distributed, run from Firefly's
//     config.json; cmd/firefly launches a cluster or one server of it.
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
//	MAX_BROKER_REFS                   rpc.WithMaxExports
//
//	Firefly                           firefly
//	PBRoot                            distributed.NewRoot, Root.Serve
//	RemoteObject, connect             distributed.NewNode, Node.Connect or Node.Join (reconnects by itself)
//	takeProxy / remote_takeProxy      done by Node.Connect; the root registers a Child
//	callRemote -> remote_callTarget   Node.CallRemote, Node.SendRemote (one-way)
//	callChild, callChildByName        Root.CallChild, Root.SendChild, Root.Broadcast
//	Child.callbackChild               Child.Call, Child.Send
//	ChildsManager                     distributed.ChildManager
//	ProxyReference.remote_callChild   distributed.ProxyReference (dispatches to the node's Service)
//	Service.mapTarget, callTarget     Service.Map, Service.CallTarget
//	CommandService (echo_1 -> 1)      Service.MapID
//	SINGLE_STYLE / PARALLEL_STYLE     distributed.WithRunStyle(distributed.Serial) / distributed.Parallel
//	doChildConnect / doChildLostConnect  Root.OnChildConnect / Root.OnChildLost
//	master, remote_map, remote_connect   cluster.Master, cluster.Server
//	config.json                       cluster.LoadConfig
//
// Start with the documentation of packages rpc and rpc/distributed, and README.md for the commands
// that run the demos, the cluster and the benchmarks.
package firefly
