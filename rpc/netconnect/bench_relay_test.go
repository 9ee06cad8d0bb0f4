package netconnect

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
)

// The relay floor: the three-process shape of BenchmarkThreeProcesses
// (net, gate and game1, each a process) written by hand for this one
// request, with nothing of rpc or distributed: it is what the hops
// themselves cost on the machine. Each hop is one TCP connection carrying
// frames of an 8-byte request id, a 4-byte body length and the body; a
// link's frames are written by one goroutine that takes all the frames
// queued and writes them with one system call, and read by one goroutine
// through a 64 KiB buffer. Net reads each client with a goroutine, as the
// bare server does; the gate and game1 answer on their links' readers.
//
// The roles (startNode): "relay-game1", "relay-gate GAME-ADDR" and
// "relay-net GATE-ADDR"; game1 and the gate listen for the hop before
// them.

const relayHeader = 12

// relayLink is one hop's connection.
type relayLink struct {
	c      net.Conn
	mu     sync.Mutex
	queued []byte
	wake   chan struct{}
}

func newRelayLink(c net.Conn) *relayLink {
	l := &relayLink{c: c, wake: make(chan struct{}, 1)}
	go l.writeLoop()
	return l
}

// send queues the frame id with body parts.
func (l *relayLink) send(id uint64, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	l.mu.Lock()
	l.queued = binary.BigEndian.AppendUint64(l.queued, id)
	l.queued = binary.BigEndian.AppendUint32(l.queued, uint32(n))
	for _, p := range parts {
		l.queued = append(l.queued, p...)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// writeLoop writes what is queued, all of it at a time, until the
// connection fails.
func (l *relayLink) writeLoop() {
	var out []byte
	for range l.wake {
		l.mu.Lock()
		out, l.queued = l.queued, out[:0]
		l.mu.Unlock()
		if len(out) == 0 {
			continue
		}
		if _, err := l.c.Write(out); err != nil {
			l.c.Close()
			return
		}
	}
}

// readLoop calls fn with each frame read until the connection fails; body
// is valid only during the call.
func (l *relayLink) readLoop(fn func(id uint64, body []byte)) {
	defer l.c.Close()
	r := bufio.NewReaderSize(l.c, 64<<10)
	var hdr [relayHeader]byte
	var body []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[8:])
		if n > 1<<20 {
			return
		}
		if cap(body) < int(n) {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		fn(binary.BigEndian.Uint64(hdr[:8]), body)
	}
}

// startRelay starts relay role f[0] (see above) and returns where it
// listens and how to stop it.
func startRelay(f []string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var dialed net.Conn
	if f[0] != "relay-game1" {
		if len(f) < 2 {
			ln.Close()
			return "", nil, fmt.Errorf("%s: no address to dial", f[0])
		}
		if dialed, err = net.Dial("tcp", f[1]); err != nil {
			ln.Close()
			return "", nil, err
		}
	}
	stop := func() {
		ln.Close()
		if dialed != nil {
			dialed.Close()
		}
	}
	switch f[0] {
	case "relay-game1":
		go acceptLinks(ln, func(l *relayLink) {
			prefix := []byte("game1 welcomes ")
			l.readLoop(func(id uint64, player []byte) { l.send(id, prefix, player) })
		})
	case "relay-gate":
		go relayGate(ln, newRelayLink(dialed))
	case "relay-net":
		go relayNet(ln, newRelayLink(dialed))
	default:
		stop()
		return "", nil, fmt.Errorf("unknown role %q", f[0])
	}
	return ln.Addr().String(), stop, nil
}

// acceptLinks serves each connection ln accepts as a link with serve.
func acceptLinks(ln net.Listener, serve func(*relayLink)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go serve(newRelayLink(c))
	}
}

// relayGate answers net's "GAME PLAYER" by asking game1 for PLAYER's
// welcome and framing it as welcome does.
func relayGate(ln net.Listener, game *relayLink) {
	type pending struct {
		from *relayLink
		id   uint64
		game string
	}
	var mu sync.Mutex
	waiting := make(map[uint64]pending)
	var next uint64
	go game.readLoop(func(id uint64, answer []byte) {
		mu.Lock()
		p, ok := waiting[id]
		delete(waiting, id)
		mu.Unlock()
		if ok {
			p.from.send(p.id, []byte("net -> gate -> "+p.game+" -> gate -> net: "), answer)
		}
	})
	acceptLinks(ln, func(from *relayLink) {
		from.readLoop(func(id uint64, body []byte) {
			name, player, _ := bytes.Cut(body, []byte(" "))
			mu.Lock()
			next++
			gid := next
			waiting[gid] = pending{from: from, id: id, game: string(name)}
			mu.Unlock()
			game.send(gid, player)
		})
	})
}

// relayNet reads each client with a goroutine, as serveBare does, and
// sends its packets' bodies to the gate, answering each with the gate's
// answer.
func relayNet(ln net.Listener, gate *relayLink) {
	var mu sync.Mutex
	waiting := make(map[uint64]chan []byte)
	go gate.readLoop(func(id uint64, answer []byte) {
		mu.Lock()
		ch := waiting[id]
		delete(waiting, id)
		mu.Unlock()
		if ch != nil {
			ch <- bytes.Clone(answer)
		}
	})
	var next uint64
	servePackets(ln, func() func([]byte) []byte {
		answers := make(chan []byte, 1)
		return func(body []byte) []byte {
			mu.Lock()
			next++
			id := next
			waiting[id] = answers
			mu.Unlock()
			gate.send(id, body)
			return <-answers
		}
	})
}
