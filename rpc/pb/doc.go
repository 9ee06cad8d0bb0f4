// Package pb speaks Twisted's own Perspective Broker wire (Banana, Jelly and
// the PB broker commands), so Go programs and unchanged Python Twisted or
// Firefly processes call each other's objects. The objects are those of
// package rpc: a root with RemoteXxx methods (or an rpc.Dispatcher such as a
// Service), values embedding rpc.Referenceable passed by reference, and
// *rpc.Ref for the peer's objects. Code written against *rpc.Ref does not
// care which wire carries it: two.Call(ctx, "print", nil, 12) works on a
// reference that came over this package's connections as on rpc's.
//
// The seed's example, with a Go One serving Twisted's pb3client.py:
//
//	type One struct{}
//
//	func (o *One) RemoteTakeTwo(ctx context.Context, two *rpc.Ref) error {
//		return two.Call(ctx, "print", nil, 12)
//	}
//
//	srv, _ := pb.NewServer(&One{})   // Twisted's PBServerFactory(One())
//	go srv.Serve(ln)
//
// and a Go client of Twisted's pb3server.py:
//
//	conn, _ := pb.Dial(ctx, "tcp", "localhost:8800")   // PBClientFactory
//	err := conn.Root().Call(ctx, "takeTwo", nil, &Two{}) // getRootObject
//
// # Calls
//
// A message names a method as Python does: "takeTwo" or "take_two" both find
// RemoteTakeTwo. Handlers take an optional leading context, which ends when
// the connection does (PB carries no deadline or cancel). Each message's
// target, method and arguments are resolved in arrival order, so a decref
// right behind a call never overtakes it; the handlers then run
// concurrently, up to WithMaxHandlers; for Twisted's one-at-a-time order,
// serve an distributed.Service with distributed.WithRunStyle(distributed.Serial) (the broker looks
// each call up on the reading goroutine, in order). Ref.Send is a call with
// answerRequired 0. A caller whose context ends returns at once; the late
// answer is dropped.
//
// Keyword arguments are Kwargs: a trailing Kwargs argument of a Go call is
// sent as the keyword arguments, and a method with a Kwargs parameter
// receives them there.
//
// # Values
//
// Python values arrive as the model types of this package: None as nil,
// bool, int as int64 (or *big.Int beyond int64), float64, bytes as []byte,
// str as string, list as []any, Tuple, Set, FrozenSet, dict as *Dict
// (ordered pairs: keys may be tuples), a registered Copyable as *Instance.
// A typed parameter converts them by reflection, with typed errors (a
// Python caller gets a TypeError): overflow, None into a non-nillable type,
// bytes where a str is wanted and the like. Go values go out as Python
// expects them: strings as str (or, with WithPython2Strings, as bytes, a
// Python 2 str), slices as list, maps as dict, structs as dict, and structs
// implementing Copyable as that Python class (register it on the Python side
// with pb.setUnjellyableForClass).
//
// # References
//
// A referenceable goes out as ['remote', luid] and counts one transmission;
// each ['decref', luid] the peer sends takes one back, and the object is
// dropped at zero (Twisted's scheme, with its MAX_BROKER_REFS of 1024 as
// WithMaxExports' default). The peer's objects arrive as *rpc.Ref, the same
// one while it is alive; Release sends one decref per transmission received
// (a GC cleanup is the backstop). A *rpc.Ref sent back to its owner goes as
// ['local', id] and arrives as the owner's own object. Objects passed in a
// call stay exported until its answer is read.
//
// # Errors
//
// A handler's error goes to the peer as a CopyableFailure with parents, so
// Python's Failure.check and trap work: rpc.Expected errors as pb.Error (not
// logged), rpc.ErrNoSuchMethod as NoSuchMethod, rpc.ErrNoSuchObject as
// pb.Error "Invalid Object ID", rpc.ErrBadArguments as TypeError. A failure
// from the peer arrives as a *RemoteError, which unwraps to an
// *rpc.RemoteError matching the same sentinels. A connection's loss fails
// every pending call with an error matching rpc.ErrConnectionLost.
//
// # Limits
//
// Banana's limits hold both ways (64 digits, 640 KiB strings and lists,
// nesting 512 deep); a value over them fails before anything is sent. A
// malformed or out-of-turn command (bad Banana, an unknown command, a decref
// of an object not exported, an answer nobody asked for, another version)
// closes that connection with the reason, logged at Warn. A peer that does
// not read is closed once twice WithMaxQueued bytes wait for it. PB has no
// authentication: bind PB listeners to private addresses, or run them inside
// TLS. Cacheables are not observed: each copy arrives as a plain *Instance
// and is given back to its owner with a decache at once.
package pb
