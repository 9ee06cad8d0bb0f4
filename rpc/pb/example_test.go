package pb_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/pb"
)

// One is the seed's root object, the same type rpc.NewServer serves.
type One struct{}

func (o *One) RemoteTakeTwo(ctx context.Context, two *rpc.Ref) error {
	fmt.Println("received a Two called", two)
	fmt.Println("telling it to print(12)")
	return two.Call(ctx, "print", nil, 12)
}

// Two is passed by reference.
type Two struct {
	rpc.Referenceable
	_ byte
}

func (t *Two) RemotePrint(arg int) { fmt.Println("Two.print() called with", arg) }

// The seed's example on Twisted's wire: either side may be Twisted's
// pb3server.py or pb3client.py instead.
func Example() {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := pb.NewServer(&One{}) // PBServerFactory(One())
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	go srv.Serve(ln)

	conn, err := pb.Dial(ctx, "tcp", ln.Addr().String()) // PBClientFactory, connectTCP
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	one := conn.Root() // getRootObject
	fmt.Println("got One:", one)
	fmt.Println("giving it our two")
	if err := one.Call(ctx, "takeTwo", nil, &Two{}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// got One: pb.Ref(root)
	// giving it our two
	// received a Two called pb.Ref(1)
	// telling it to print(12)
	// Two.print() called with 12
}

// Keyword arguments go as a trailing pb.Kwargs, and arrive in a pb.Kwargs
// parameter.
func ExampleKwargs() {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := pb.NewServer(&Greeter{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	go srv.Serve(ln)
	conn, err := pb.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	var s string
	// Python: root.callRemote("greet", "Bob", greeting="hi")
	if err := conn.Root().Call(ctx, "greet", &s, "Bob", pb.Kwargs{"greeting": "hi"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(s)
	// Output: hi Bob
}

// Greeter's greet takes keyword arguments: def remote_greet(self, name, **kw).
type Greeter struct{}

func (*Greeter) RemoteGreet(name string, kw pb.Kwargs) string {
	return fmt.Sprintf("%v %s", kw["greeting"], name)
}
