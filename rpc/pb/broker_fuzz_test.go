package pb

import (
	"io"
	"net"
	"testing"
	"time"
)

// FuzzBrokerCommands feeds arbitrary bytes to a serving connection after
// the dialect is chosen: whatever arrives, the broker answers or closes the
// connection, and never panics or hangs.
func FuzzBrokerCommands(f *testing.F) {
	seed := readCaptureFile(f, "seed-client-to-server.bin")
	f.Add(seed[10:])                                                          // takeTwo, print's answer
	f.Add([]byte{0x02, 0x80, 0x1d, 0x87, 0x05, 0x81})                         // decref 5
	f.Add([]byte{0x03, 0x80, 0x1b, 0x87, 0x07, 0x81, 0x01, 0x80, 0x01, 0x87}) // answer 7
	f.Add([]byte{0x07, 0x80, 0x19, 0x87, 0x01, 0x81, 0x02, 0x81, 0x01, 0x82, 'x', 0x01, 0x81,
		0x01, 0x80, 0x0b, 0x87, 0x01, 0x80, 0x05, 0x87}) // cachemessage to cache 2
	srv, err := NewServer(benchRoot{})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		defer client.Close()
		go io.Copy(io.Discard, client)
		c := newConn(server, srv.opts, srv.root, true)
		c.dec.setDialect(true)
		c.vocab = true
		c.start(nil)
		client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		client.Write(in)
		c.Close()
		<-c.Done()
	})
}

func readCaptureFile(f *testing.F, name string) []byte {
	b, err := readTestdataFile(name)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
