package rpc_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"

	"github.com/fireflyrpc/firefly/rpc"
)

// Arith is a root object: its RemoteXxx methods are callable as "Xxx" or
// "xxx".
type Arith struct {
	logged chan string // receives what RemoteLog is sent
}

// RemoteAdd adds two numbers.
func (a *Arith) RemoteAdd(x, y int) int { return x + y }

// RemoteDiv divides x by y; dividing by zero is the handler's own error.
func (a *Arith) RemoteDiv(x, y int) (int, error) {
	if y == 0 {
		return 0, &DivByZero{X: x}
	}
	return x / y, nil
}

// RemoteLog takes a line; it is called one-way, with Ref.Send.
func (a *Arith) RemoteLog(line string) { a.logged <- line }

// DivByZero is the error RemoteDiv returns.
type DivByZero struct{ X int }

func (e *DivByZero) Error() string { return fmt.Sprintf("divide %d by zero", e.X) }

// serveLocal serves root on a loopback port with opts and dials it. stop
// closes both.
func serveLocal(ctx context.Context, root any, opts ...rpc.Option) (conn *rpc.Conn, stop func()) {
	srv, err := rpc.NewServer(root, opts...)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	conn, err = rpc.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	return conn, func() {
		conn.Close()
		srv.Close()
	}
}

// A server offers a root object on a listener; a client dials it and calls
// the root through Conn.Root.
func ExampleNewServer() {
	ctx := context.Background()
	srv, err := rpc.NewServer(&Arith{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)

	conn, err := rpc.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	var sum int
	if err := conn.Root().Call(ctx, "add", &sum, 2, 3); err != nil {
		log.Fatal(err)
	}
	fmt.Println("2 + 3 =", sum)
	// Output:
	// 2 + 3 = 5
}

// Call waits for the answer and decodes it into reply. The method may be
// named as exposed ("Add") or in lower camel case ("add").
func ExampleRef_Call() {
	ctx := context.Background()
	conn, stop := serveLocal(ctx, &Arith{})
	defer stop()

	var q int
	if err := conn.Root().Call(ctx, "Div", &q, 7, 2); err != nil {
		log.Fatal(err)
	}
	fmt.Println("7 / 2 =", q)
	// A nil reply discards the result.
	if err := conn.Root().Call(ctx, "add", nil, 1, 1); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 7 / 2 = 3
}

// Go starts calls without waiting; each *Call arrives on the done channel
// when its answer does, in whatever order they finish.
func ExampleRef_Go() {
	ctx := context.Background()
	conn, stop := serveLocal(ctx, &Arith{})
	defer stop()

	done := make(chan *rpc.Call, 3)
	sums := make([]int, 3)
	for i := range sums {
		conn.Root().Go(ctx, "add", &sums[i], done, i, 10)
	}
	for range sums {
		call := <-done
		if call.Error != nil {
			log.Fatal(call.Error)
		}
	}
	fmt.Println(sums)
	// Output:
	// [10 11 12]
}

// Send is one-way: it returns once the call is on its way, and the
// handler's result and error are dropped.
func ExampleRef_Send() {
	ctx := context.Background()
	root := &Arith{logged: make(chan string, 1)}
	conn, stop := serveLocal(ctx, root)
	defer stop()

	if err := conn.Root().Send(ctx, "log", "player joined"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("server logged:", <-root.logged)
	// Output:
	// server logged: player joined
}

// SeedOne is the server's root object in the seed's example: given a SeedTwo
// by reference, it calls it back.
type SeedOne struct{}

// RemoteTakeTwo calls print(12) on the client's object.
func (o *SeedOne) RemoteTakeTwo(ctx context.Context, two *rpc.Ref) error {
	fmt.Println("One: received a Two; telling it to print(12)")
	return two.Call(ctx, "print", nil, 12)
}

// SeedTwo is passed by reference: it embeds rpc.Referenceable.
type SeedTwo struct{ rpc.Referenceable }

// RemotePrint runs on the client, called by the server.
func (t *SeedTwo) RemotePrint(arg int) { fmt.Println("Two: print() called with", arg) }

// A pointer to a type embedding Referenceable reaches the peer as a *Ref,
// which the peer calls back over the same connection: Twisted PB's
// pb.Referenceable (the seed's One and Two).
func ExampleReferenceable() {
	ctx := context.Background()
	conn, stop := serveLocal(ctx, &SeedOne{})
	defer stop()

	if err := conn.Root().Call(ctx, "takeTwo", nil, &SeedTwo{}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("client: takeTwo returned")
	// Output:
	// One: received a Two; telling it to print(12)
	// Two: print() called with 12
	// client: takeTwo returned
}

// A handler's error reaches the caller as a *RemoteError with its type name
// and message; the package's sentinel errors keep matching errors.Is across
// the wire.
func ExampleRemoteError() {
	ctx := context.Background()
	conn, stop := serveLocal(ctx, &Arith{})
	defer stop()

	err := conn.Root().Call(ctx, "sqrt", nil, 2)
	fmt.Println(errors.Is(err, rpc.ErrNoSuchMethod))

	err = conn.Root().Call(ctx, "div", nil, 1, 0)
	var re *rpc.RemoteError
	if errors.As(err, &re) {
		fmt.Printf("%s: %s\n", re.Type, re.Message)
	}
	// Output:
	// true
	// *rpc_test.DivByZero: divide 1 by zero
}

// With WithIntrospection on the serving side, a peer lists the methods of
// any object it holds a reference to.
func ExampleRef_Methods() {
	ctx := context.Background()
	conn, stop := serveLocal(ctx, &Arith{}, rpc.WithIntrospection(true))
	defer stop()

	ms, err := conn.Root().Methods(ctx)
	if err != nil {
		log.Fatal(err)
	}
	slices.SortFunc(ms, func(a, b rpc.MethodInfo) int { return cmp.Compare(a.Name, b.Name) })
	for _, m := range ms {
		fmt.Println(m.Signature)
	}
	// Output:
	// Add(int, int) int
	// Div(int, int) (int, error)
	// Log(string)
}

// Expvar gives the server's counters to package expvar, which serves them
// at /debug/vars. Nothing is published unless the program does so, once, under
// a name of its choosing:
//
//	expvar.Publish("firefly", srv.Expvar())
func ExampleServer_Expvar() {
	ctx := context.Background()
	srv, err := rpc.NewServer(&Arith{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	conn, err := rpc.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conn.Root().Call(ctx, "add", nil, 1, 2)
	conn.Root().Call(ctx, "sqrt", nil, 2)

	// What /debug/vars would show under "firefly".
	var st rpc.Stats
	if err := json.Unmarshal([]byte(srv.Expvar().String()), &st); err != nil {
		log.Fatal(err)
	}
	fmt.Println("connections:", st.Conns)
	fmt.Println("calls in:", st.CallsIn)
	fmt.Println("errors:", st.Errors)
	// Output:
	// connections: 1
	// calls in: 2
	// errors: map[no_such_method:1]
}

// DebugHandler serves the server's counters, connections and (with
// WithIntrospection) its root's methods as JSON, for operators.
func ExampleServer_DebugHandler() {
	ctx := context.Background()
	srv, err := rpc.NewServer(&Arith{}, rpc.WithIntrospection(true))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	conn, err := rpc.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conn.Root().Call(ctx, "add", nil, 1, 2)

	// In a program: mux.Handle("GET /debug/firefly", srv.DebugHandler()) on
	// an address only operators reach.
	web := httptest.NewServer(srv.DebugHandler())
	defer web.Close()
	resp, err := http.Get(web.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var page rpc.DebugPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		log.Fatal(err)
	}
	fmt.Println("calls in:", page.Stats.CallsIn)
	for _, c := range page.Conns {
		fmt.Println("conn from the client:", c.Remote == conn.LocalAddr().String())
	}
	for _, m := range page.Methods {
		fmt.Println("method:", m.Signature)
	}
	// Output:
	// calls in: 1
	// conn from the client: true
	// method: Add(int, int) int
	// method: Div(int, int) (int, error)
	// method: Log(string)
}
