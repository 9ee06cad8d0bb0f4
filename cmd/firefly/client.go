package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fireflyrpc/firefly/rpc/netconnect"
)

// clientCommand is "firefly client": a game client of a front-end. It
// sends one packet and prints the reply's body, then, with -listen, every
// push that comes within that time as "push TOPIC: BODY".
//
//	firefly client -addr 127.0.0.1:11009 -command 1001 -body 'game1 alice'
func clientCommand(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("client")
	addr := fs.String("addr", "", "the front-end's address, host:port (a server's netport)")
	command := fs.Uint("command", 0, "the packet's command id")
	body := fs.String("body", "", "the packet's body, as text")
	noReply := fs.Bool("noreply", false, "send the packet and wait for no reply")
	listen := fs.Duration("listen", 0, "after the reply, print the pushes that come for this long")
	timeout := fs.Duration("timeout", 10*time.Second, "time limit for connecting and the reply")
	head := fs.String("head", "00000000", "the datapack's four head bytes, in hex")
	protocol := fs.Uint("protocol", 0, "the datapack's protocol version")
	version := fs.Uint("version", 0, "the datapack's server version")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *addr == "" {
		return &usageError{"-addr is required"}
	}
	var dp netconnect.Datapack
	if h, err := hex.DecodeString(*head); err != nil || len(h) != 4 {
		return &usageError{fmt.Sprintf("-head must be 4 bytes in hex, got %q", *head)}
	} else {
		dp.Head = [4]byte(h)
	}
	if *command > 1<<32-1 || *protocol > 255 || *version > 1<<32-1 {
		return &usageError{"-command and -version are uint32, -protocol a byte"}
	}
	dp.ProtocolVersion, dp.ServerVersion = byte(*protocol), uint32(*version)

	rctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c, err := netconnect.Dial(rctx, *addr, netconnect.WithDatapack(dp))
	if err != nil {
		return err
	}
	defer c.Close()
	if *noReply {
		err = c.Send(rctx, uint32(*command), []byte(*body))
	} else {
		var reply []byte
		reply, err = c.Request(rctx, uint32(*command), []byte(*body))
		if err == nil {
			fmt.Fprintln(out, string(reply))
		}
	}
	if err != nil {
		return err
	}
	if *listen <= 0 {
		return nil
	}
	lctx, lcancel := context.WithTimeout(ctx, *listen)
	defer lcancel()
	for {
		p, err := c.Recv(lctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return err
		}
		fmt.Fprintf(out, "push %d: %s\n", p.Command, p.Body)
	}
}
