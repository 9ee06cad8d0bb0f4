package pb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fireflyrpc/firefly/internal/broker"
	"github.com/fireflyrpc/firefly/rpc"
)

// brokerVersion is the only PB protocol version (Broker.version in Twisted).
const brokerVersion = 6

// Conn is one PB connection to a Twisted peer (or another Conn). Either side
// passes objects by reference and calls the other's; only the serving side
// offers a root object, which the dialling side reaches through Root. A Conn
// is safe for concurrent use.
type Conn struct {
	nc     net.Conn
	opts   *options
	log    *slog.Logger
	server bool
	root   *target // the serving side's root; nil when dialling

	ctx    context.Context // handlers' context: ends with the connection
	cancel context.CancelFunc

	dec      *bananaDecoder
	vocab    bool // dialect "pb": vocabulary words go out as VOCAB tokens
	peerRoot *rpc.Ref

	// The writer's queue: commands encoded one after the other into wq,
	// written in order by one goroutine (writeLoop).
	wmu     sync.Mutex
	wq      []byte
	wspace  chan struct{} // made by a waiting caller; closed when the writer takes the queue
	widle   chan struct{} // made by flush; closed when the writer has written everything
	writing bool          // the writer holds a batch it has not written yet
	wake    chan struct{}

	jobs chan handlerJob // idle handler goroutines wait here (dispatch)

	rhooks hooks // the reading goroutine's, for the command it reads (readerHooks)

	calls    callTable
	exports  exportTable
	imports  importTable
	caches   cacheTable
	handlers atomic.Int32

	done     chan struct{}
	err      error // why the connection ended; set before done is closed
	doneOnce sync.Once

	notify broker.Notifications // NotifyOnDisconnect's functions
}

func newConn(nc net.Conn, o *options, root *target, server bool) *Conn {
	c := &Conn{
		nc:     nc,
		opts:   o,
		log:    o.logger,
		server: server,
		root:   root,
		dec:    newBananaDecoder(defaultBananaLimits),
		wake:   make(chan struct{}, 1),
		jobs:   make(chan handlerJob),
		done:   make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.calls.init(o.maxPendingCalls)
	c.initExports(o.maxExports)
	c.imports.Init(c.decref)
	c.caches.init(o.maxExports)
	c.peerRoot = rpc.NewRemoteRef(&remoteRef{c: c, root: true})
	return c
}

// Root returns a reference to the peer's root object (Twisted's
// getRootObject): PB's object id 'root', never reference counted. Only a
// serving peer has one; calls on it from the serving side fail with an
// error matching rpc.ErrNoSuchObject.
func (c *Conn) Root() *rpc.Ref { return c.peerRoot }

// Done returns a channel closed when the connection is gone.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (an error matching
// rpc.ErrConnectionLost), or nil while it is up.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Close writes the commands already queued (answers included; for at most
// closeFlush), then closes the connection: pending calls fail with an error
// matching rpc.ErrConnectionLost, running handlers see their context end,
// and every exported object is dropped.
func (c *Conn) Close() error {
	c.flush(closeFlush)
	c.shutdown(errClosed)
	return nil
}

// closeFlush bounds how long Close waits for queued commands to be written.
const closeFlush = time.Second

// flush waits until the writer has written everything queued, the
// connection is gone, or max has passed.
func (c *Conn) flush(max time.Duration) {
	timer := time.NewTimer(max)
	defer timer.Stop()
	for {
		c.wmu.Lock()
		if !c.writing && len(c.wq) == 0 {
			c.wmu.Unlock()
			return
		}
		idle := writerSignal(&c.widle)
		c.wmu.Unlock()
		select {
		case <-idle:
		case <-c.done:
			return
		case <-timer.C:
			return
		}
	}
}

var errClosed = errors.New("closed locally")

// NotifyOnDisconnect arranges for f to be called, in its own goroutine, with
// the reason (matching rpc.ErrConnectionLost) when the connection is gone; at
// once if it already is. The returned function cancels the notification.
func (c *Conn) NotifyOnDisconnect(f func(error)) (cancel func()) {
	return c.notify.Add(f)
}

// Stats are counters of a connection at one moment.
type Stats struct {
	PendingCalls int // outgoing calls waiting for an answer
	Handlers     int // handlers running (rpc.Stats.Handlers)
	Exports      int // local objects the peer holds references to
	Imports      int // live references to the peer's objects
}

// Stats returns the connection's current counters.
func (c *Conn) Stats() Stats {
	return Stats{
		PendingCalls: c.calls.len(),
		Handlers:     int(c.handlers.Load()),
		Exports:      c.exports.Len(),
		Imports:      c.imports.Len(),
	}
}

// shutdown ends the connection with cause, once.
func (c *Conn) shutdown(cause error) {
	c.doneOnce.Do(func() {
		c.err = lostError(cause)
		if errors.Is(cause, ErrProtocol) {
			c.log.Warn("pb: closing connection", "remote", c.RemoteAddr(), "reason", cause)
		} else {
			c.log.Debug("pb: connection ended", "remote", c.RemoteAddr(), "reason", cause)
		}
		close(c.done)
		c.nc.Close()
		c.cancel()
		c.calls.closeAll(c.err)
		c.exports.Clear()
		c.imports.Clear()
		c.notify.Fire(c.err)
	})
}

// lostError wraps the cause of a connection's end so that it matches
// rpc.ErrConnectionLost and still unwraps to the cause.
func lostError(cause error) error {
	if errors.Is(cause, rpc.ErrConnectionLost) {
		return cause
	}
	return fmt.Errorf("%w: %w", rpc.ErrConnectionLost, cause)
}

// protocolErrorf closes-worthy violations of the broker's rules.
func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// negotiate runs the dialect negotiation (PB-WIRE.md §2.4) and sends this
// side's version, within ctx and the handshake timeout. It returns the
// expressions that arrived after the choice.
func (c *Conn) negotiate(ctx context.Context) (held []any, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.handshakeTimeout)
	defer cancel()
	err = broker.Bounded(ctx, c.nc, nil, func() error {
		held, err = c.exchange()
		return err
	})
	return held, err
}

// exchange is the negotiation itself: the dialect offer and choice, then the
// versions.
func (c *Conn) exchange() ([]any, error) {
	if c.server {
		if _, err := c.nc.Write(bananaServerHello()); err != nil {
			return nil, err
		}
	}
	first, err := c.readFirst()
	if err != nil {
		return nil, err
	}
	var msg []byte
	if c.server {
		if c.vocab, err = acceptDialect(first); err != nil {
			return nil, err
		}
	} else {
		offer, ok := first.([]any)
		if !ok {
			return nil, protocolErrorf("the server's dialect offer is a %s, not a list", bananaKind(first))
		}
		choice, err := chooseDialect(offer)
		if err != nil {
			return nil, err
		}
		c.vocab = string(choice) == dialectNamePB
		msg, _ = appendBanana(nil, choice, false)
	}
	c.dec.setDialect(c.vocab)
	msg, _ = appendBanana(msg, []any{[]byte("version"), int64(brokerVersion)}, c.vocab)
	if _, err := c.nc.Write(msg); err != nil {
		return nil, err
	}
	return c.dec.feed(nil)
}

// readFirst reads until the decoder has the negotiation's first expression.
func (c *Conn) readFirst() (any, error) {
	buf := make([]byte, 512)
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			exprs, derr := c.dec.feed(buf[:n])
			if derr != nil {
				return nil, derr
			}
			if len(exprs) > 0 {
				return exprs[0], nil
			}
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// start runs the connection: held is what arrived with the negotiation.
func (c *Conn) start(held []any) {
	go c.writeLoop()
	go c.readLoop(held)
}

// readLoop decodes the peer's commands and handles each in arrival order.
func (c *Conn) readLoop(held []any) {
	for _, cmd := range held {
		if err := c.handle(cmd); err != nil {
			c.shutdown(err)
			return
		}
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			cmds, derr := c.dec.feed(buf[:n])
			for _, cmd := range cmds {
				if herr := c.handle(cmd); herr != nil {
					c.shutdown(herr)
					return
				}
			}
			if derr != nil {
				c.shutdown(derr)
				return
			}
		}
		if err != nil {
			c.shutdown(err)
			return
		}
	}
}
