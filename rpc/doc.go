// Package rpc is firefly's broker: Twisted's Perspective Broker, done in Go,
// over the transport multiplexer.
//
// A connection is symmetric. Either side may offer a root object and call the
// other's; either side may pass local objects by reference and the other
// calls them back over the same connection. Only methods named RemoteXxx are
// reachable, as "Xxx" or "xxx" (see package registry for the rules).
//
// The seed's example, both sides in one program:
//
//	// One is the server's root object.
//	type One struct{}
//
//	func (o *One) RemoteTakeTwo(ctx context.Context, two *rpc.Ref) error {
//		fmt.Println("received a Two called", two)
//		fmt.Println("telling it to print(12)")
//		return two.Call(ctx, "print", nil, 12)
//	}
//
//	// Two is passed by reference: it embeds rpc.Referenceable.
//	type Two struct{ rpc.Referenceable }
//
//	func (t *Two) RemotePrint(arg int) { fmt.Println("Two.print() called with", arg) }
//
//	func main() {
//		ctx := context.Background()
//		ln, _ := net.Listen("tcp", "127.0.0.1:8800")
//		srv, _ := rpc.NewServer(&One{})
//		go srv.Serve(ln)
//
//		conn, _ := rpc.Dial(ctx, "tcp", "127.0.0.1:8800")
//		defer conn.Close()
//		if err := conn.Root().Call(ctx, "takeTwo", nil, &Two{}); err != nil {
//			log.Fatal(err)
//		}
//	}
//
// # Calls
//
// Ref.Call waits for the answer; Ref.Go returns a *Call at once (net/rpc
// style); Ref.Send is one-way (PB's answerRequired=False). The caller's
// context deadline and cancellation reach the handler's context on the other
// side; a cancelled call returns at once and its late answer is dropped. A
// handler's context costs little: its Done channel is made only when asked
// for, calls made with it wait without one, and contexts derived from it
// (context.WithTimeout and the like) need no goroutine to watch it.
// A call that arrives alone (nothing more read behind it, no other handler
// of the connection running) runs on the goroutine that read it; and the
// caller of a connection's only call in flight reads its answer itself, so
// that calls made one after another wake no goroutine at either end. A
// handler that holds the reading up (running 200 us or more while more of
// the peer's input came, or blocked until the connection's watch takes the
// reading over, within about 10 ms) has its method's next calls run on
// handler goroutines, 16 of them the first time and twice as many each time
// again, half as many again after each call back on the reader that was
// quick. A handler that runs long while its caller, making one call at a
// time, sends nothing meanwhile keeps nobody waiting, and runs on.
// Otherwise handlers run on handler goroutines, up to a per-connection limit
// of calls (WithMaxHandlers) that each side announces to the other when the
// connection starts; a caller's calls past the peer's limit wait on its side,
// bounded by their context, and a handler's context ends when the handler
// returns. A connection runs at most twice GOMAXPROCS handlers at once (at
// least 4) and queues the calls past that, in order, for the first handler
// goroutine to finish; a handler waiting for a call it made with its context
// (or one derived from it) gives its place meanwhile, and one that blocks
// otherwise (a lock, a channel, I/O) for over half a millisecond or so is
// replaced: a queued call never waits behind handlers that make no progress
// for more than about a millisecond.
//
// Arguments and results reach the receiver exactly as encoding/gob would
// carry them, decoded straight into the method's parameter types (or the
// caller's reply): fields matched by name, pointers followed and allocated
// on either side, GobDecode, UnmarshalBinary and UnmarshalText called, gob's
// type mismatches refused (ErrBadArguments, ErrBadReply). Built-in scalars,
// byte slices and structs whose fields are all scalars skip gob and travel
// inline, to the same effect (see docs/PROTOCOL.md). Where firefly differs
// from gob, on purpose, is listed in README.md: a nil pointer, slice, map or
// interface as a whole argument or result, which gob cannot send, arrives
// as the zero value (a nil element of a slice is refused, as gob refuses it).
//
// Interface types (parameters, results, struct fields) hold what gob puts in
// an interface: a value sent as an interface, whose concrete type is
// registered with gob.Register (gob registers the built-in types itself)
// and implements the interface. A value is sent as an interface when it is a
// field of interface type, the result of a method declared to return an
// interface type, or an argument passed as a pointer to an interface
// variable, as gob's Encoder is given one:
//
//	var v any = Point{X: 1}
//	err := ref.Call(ctx, "store", nil, &v) // Store(v any) gets a Point
//
// A value of any other type sent as itself does not fill an interface (gob
// refuses it), except nil, references, and built-in scalars (bool, int,
// int32, int64, uint, uint32, uint64, float64, string, []byte), which arrive
// as their own type. A value sent as an interface also fills a parameter or
// reply of its own concrete type.
//
// # References
//
// A pointer to a type embedding Referenceable, passed as an argument or
// returned as a result, reaches the peer as a *Ref. The same object sent
// twice arrives as the same *Ref. A *Ref sent back to its owner arrives as the
// original object where the parameter's type accepts it (its own type, or an
// interface it implements), or as a *Ref bound to it for a *Ref parameter.
// References travel only as whole arguments and results: a referenceable or
// *Ref nested in a struct, slice or map is refused, at registration for
// parameter and result types, and with a clear error when sent.
//
// References are counted per transmission, as in PB: each send adds one on the
// owner's side, and Ref.Release gives back all the transmissions the holder
// received; the owner drops the object when none are left. A *Ref that becomes
// unreachable is released by a GC cleanup as a backstop. Everything a
// connection exported is dropped when it closes.
//
// # Errors
//
// A handler's error reaches the caller as a *RemoteError with the error's type
// name and message. The package's sentinel errors (ErrNoSuchMethod,
// ErrBadArguments, ErrOverloaded, ...) and context.Canceled and
// DeadlineExceeded keep matching errors.Is across the wire. A panicking
// handler is contained: the caller gets an error matching ErrPanic. Errors
// marked with Expected (PB's pb.Error) are not logged by the serving side.
// Stack traces reach the caller only with WithStackTraces.
//
// When a connection is lost, every pending call fails at once with an error
// matching ErrConnectionLost, later calls on its references fail at once, and
// NotifyOnDisconnect callbacks run.
package rpc
