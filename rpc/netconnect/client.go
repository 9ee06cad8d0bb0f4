package netconnect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"
)

// A Packet is a command id and a body, as read by a Client.
type Packet struct {
	Command uint32
	Body    []byte
}

// A Client is a game client's connection to a Server, for Go game clients
// and tests. Request sends a packet and waits for the reply, the next
// packet with the same command id; other packets (pushes) wait for Recv.
// The protocol carries no request id: a push whose topic equals the command
// of a pending request is taken as its reply, and requests of one command
// are answered in the order they were sent. Pushes wait for Recv in a
// queue of WithPushQueue packets; while it is full the client reads
// nothing, replies included (and a server drops a client that stops
// reading). A Client is safe for concurrent use.
type Client struct {
	conn net.Conn
	dp   Datapack

	wmu  sync.Mutex // serializes writes
	wbuf []byte     // the packet being written, under wmu

	mu      sync.Mutex
	waiting map[uint32][]chan Packet // requests waiting, by command, oldest first
	replies sync.Pool                // chan Packet (buffered, empty) for requests
	err     error

	pushes chan Packet
	done   chan struct{}
}

// Dial connects to the server at addr (host:port, TCP) and returns a
// client. WithDatapack must match the server's.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewClient(conn, opts...), nil
}

// NewClient returns a client on conn, which it owns from now on.
func NewClient(conn net.Conn, opts ...Option) *Client {
	o := newOptions(opts)
	c := &Client{
		conn:    conn,
		dp:      o.datapack,
		waiting: make(map[uint32][]chan Packet),
		pushes:  make(chan Packet, o.pushQueue),
		done:    make(chan struct{}),
	}
	go c.read()
	return c
}

// read reads packets until the connection ends.
func (c *Client) read() {
	rd := NewReader(&c.dp, c.conn)
	for {
		h, body, err := rd.Read()
		if err != nil {
			c.fail(err)
			return
		}
		p := Packet{Command: h.Command, Body: body}
		c.mu.Lock()
		if q := c.waiting[h.Command]; len(q) > 0 {
			q[0] <- p // buffered, never blocks
			c.waiting[h.Command] = dequeue(q)
			c.mu.Unlock()
			continue
		}
		c.mu.Unlock()
		select {
		case c.pushes <- p:
		case <-c.done:
			return
		}
	}
}

// dequeue drops q's first entry, in place, keeping its array for the
// next request of the command.
func dequeue(q []chan Packet) []chan Packet {
	n := copy(q, q[1:])
	q[n] = nil
	return q[:n]
}

// fail records why the client ended and closes it.
func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		return
	default:
	}
	c.err = err
	close(c.done)
	c.conn.Close()
}

// Err returns why the client ended (ErrClientClosed after Close, the
// connection's error otherwise), or nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done returns a channel closed when the client ends.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close closes the connection; pending requests fail with ErrClientClosed.
func (c *Client) Close() error {
	c.fail(ErrClientClosed)
	return nil
}

// LocalAddr returns the client's address.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// Send writes a packet of command with body, waiting until it is written
// or ctx ends.
func (c *Client) Send(ctx context.Context, command uint32, body []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	pkt, err := c.dp.Append(c.wbuf[:0], command, body)
	if err != nil {
		return err
	}
	if cap(pkt) <= maxKeptWriteBuffer {
		c.wbuf = pkt
	}
	dl, _ := ctx.Deadline()
	c.conn.SetWriteDeadline(dl)
	if ctx.Done() == nil {
		_, err = c.conn.Write(pkt)
		if err != nil {
			c.fail(err)
			return c.closedErr()
		}
		return nil
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.SetWriteDeadline(time.Unix(1, 0))
		close(fired)
	})
	_, err = c.conn.Write(pkt)
	if !stop() {
		<-fired
		if err == nil {
			c.conn.SetWriteDeadline(time.Time{})
			return nil
		}
		// The write was cut short: the stream is broken.
		c.fail(fmt.Errorf("netconnect: write interrupted: %w", ctx.Err()))
		return ctx.Err()
	}
	if err != nil {
		c.fail(err)
		return c.closedErr()
	}
	return nil
}

// maxKeptWriteBuffer is the largest write buffer a Client keeps for its
// next packet.
const maxKeptWriteBuffer = 4 << 10

// closedErr is the error of a call on an ended client.
func (c *Client) closedErr() error {
	err := c.Err()
	if errors.Is(err, ErrClientClosed) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrClientClosed, err)
}

// Request sends a packet of command with body and waits for the reply: the
// next packet with the same command id. If ctx ends first it returns ctx's
// error, and a reply arriving later goes to Recv.
func (c *Client) Request(ctx context.Context, command uint32, body []byte) ([]byte, error) {
	ch, _ := c.replies.Get().(chan Packet)
	if ch == nil {
		ch = make(chan Packet, 1)
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.closedErr()
	}
	c.waiting[command] = append(c.waiting[command], ch)
	c.mu.Unlock()
	if err := c.Send(ctx, command, body); err != nil {
		if c.forget(command, ch) {
			c.replies.Put(ch)
		}
		return nil, err
	}
	select {
	case p := <-ch:
		c.replies.Put(ch)
		return p.Body, nil
	case <-ctx.Done():
		if !c.forget(command, ch) {
			p := <-ch // answered meanwhile
			c.replies.Put(ch)
			return p.Body, nil
		}
		c.replies.Put(ch)
		return nil, ctx.Err()
	case <-c.done:
		select {
		case p := <-ch:
			return p.Body, nil
		default:
		}
		return nil, c.closedErr()
	}
}

// forget removes a waiting request and reports whether it was still
// waiting.
func (c *Client) forget(command uint32, ch chan Packet) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.waiting[command]
	i := slices.Index(q, ch)
	if i < 0 {
		return false
	}
	c.waiting[command] = append(q[:i], dequeue(q[i:])...)
	return true
}

// Recv returns the next packet that is not a reply to a Request (a push),
// waiting until one arrives, the client ends, or ctx ends.
func (c *Client) Recv(ctx context.Context) (Packet, error) {
	select {
	case p := <-c.pushes:
		return p, nil
	default:
	}
	select {
	case p := <-c.pushes:
		return p, nil
	case <-c.done:
		select {
		case p := <-c.pushes:
			return p, nil
		default:
		}
		return Packet{}, c.closedErr()
	case <-ctx.Done():
		return Packet{}, ctx.Err()
	}
}
