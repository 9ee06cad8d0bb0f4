// Package transport multiplexes many bidirectional byte streams over one
// net.Conn. It is the lowest layer of firefly: the rpc package runs over it.
//
// A connection starts with a preface exchange (magic bytes, version, limits);
// then both sides exchange small framed messages: DATA (with SYN, FIN and RST
// flags, so a one-frame message needs no separate open frame), WINDOW_UPDATE,
// PING and GOAWAY. The wire format is specified in docs/PROTOCOL.md.
//
// Properties:
//
//   - Per-stream credit flow control: a stream nobody reads never stalls the
//     others, and a session's buffered memory is bounded by its windows.
//     While streams interleave on the connection, each is granted credit for
//     only 32 KiB in flight, so a bulk transfer keeps little data ahead of
//     the small messages beside it; a stream alone has its whole window.
//   - Fair sending: writes are cut into frames of at most the peer's max
//     frame size and one writer goroutine sends them round-robin across
//     streams, control frames first, so a small message overtakes a large
//     transfer on another stream.
//   - Stream.Write copies into pooled buffers and returns without waiting for
//     the network; it blocks only when the stream's window is exhausted.
//   - A consumer may take a stream's data where it arrives instead of
//     blocking in Read: Stream.SetReadNotify calls it on the session's reader
//     goroutine, and TryRead and Buffered never wait. With
//     Stream.SetReceiveFunc it is offered a small payload before it is
//     queued and takes what it can where the payload lies in the session's
//     read buffer, with no copy.
//   - One goroutine at a time reads the input: the session's reader, or a
//     goroutine waiting in Session.ReadUntil for what the input will bring,
//     which reads for itself while nobody else does, so that the frame it
//     waits for is handled on its own goroutine (Wake interrupts it when
//     what it waits for came another way). A receive or notify function may
//     have a function run on the reading goroutine once the frame is handled
//     (Session.Inline), holding the reader for as long as it runs: its
//     Lease reads for it, and one that holds the reader without reading for
//     a tick of a 5 ms watch has the reading taken over by another
//     goroutine. A round trip made by one goroutine at a time so wakes no
//     other goroutine at either end.
//   - Keepalive pings declare a silent peer dead, and a send-stall timeout
//     closes a session whose queued data makes no progress (ErrSendStalled).
//   - GOAWAY closes gracefully: it stops new work, not the work in progress;
//     the peer may still open streams to finish it (AfterGoAway tells the
//     layer above when to wind down).
//   - Any input from the peer that breaks the protocol closes the session
//     with a *ProtocolError; nothing the peer sends can panic the process.
//     A layer above reports a violation of its own protocol with
//     CloseWithViolation (GOAWAY PROTOCOL_ERROR), a failure with
//     CloseWithError (INTERNAL_ERROR), a normal end with CloseGracefully
//     (NORMAL); GoAwaySent and GoAwayReceived tell it which side went away.
//   - Stream.WriteContext is Write bounded by a context, and MaxOpen is how
//     many streams this side may have open at once, so that a layer above
//     can size a pool of streams without being refused.
//
// Client and Server run the handshake; the client's streams have odd ids and
// the server's even ids. Either side may Open streams and Accept the peer's.
// Stream implements net.Conn, plus CloseWrite (half-close) and Reset.
//
// A complete program:
//
//	package main
//
//	import (
//		"context"
//		"fmt"
//		"io"
//		"net"
//
//		"github.com/fireflyrpc/firefly/transport"
//	)
//
//	func main() {
//		ctx := context.Background()
//		ln, err := net.Listen("tcp", "127.0.0.1:0")
//		if err != nil {
//			panic(err)
//		}
//		defer ln.Close()
//
//		// Server: accept one session, echo every stream back.
//		go func() {
//			conn, err := ln.Accept()
//			if err != nil {
//				return
//			}
//			sess, err := transport.Server(ctx, conn, nil)
//			if err != nil {
//				return
//			}
//			defer sess.Close()
//			for {
//				st, err := sess.Accept(ctx)
//				if err != nil {
//					return
//				}
//				go func() {
//					defer st.Close()
//					io.Copy(st, st) // echo until the client's CloseWrite
//				}()
//			}
//		}()
//
//		// Client: open a stream, send, half-close, read the echo.
//		conn, err := net.Dial("tcp", ln.Addr().String())
//		if err != nil {
//			panic(err)
//		}
//		sess, err := transport.Client(ctx, conn, nil)
//		if err != nil {
//			panic(err)
//		}
//		defer sess.Close()
//		st, err := sess.Open(ctx)
//		if err != nil {
//			panic(err)
//		}
//		st.Write([]byte("hello, firefly"))
//		st.CloseWrite()
//		reply, err := io.ReadAll(st)
//		if err != nil {
//			panic(err)
//		}
//		fmt.Println(string(reply)) // hello, firefly
//	}
package transport
