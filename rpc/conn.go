package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fireflyrpc/firefly/internal/broker"
	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc/internal/wire"
	"github.com/fireflyrpc/firefly/transport"
)

// Conn is one connection between two brokers. It is symmetric: either side
// may offer a root object (NewServer's root, or WithRoot when dialling) and
// call the other's through Root, and either side may pass objects by
// reference. A Conn is safe for concurrent use.
type Conn struct {
	sess *transport.Session
	opts *options
	reg  *registry.Registry
	log  *slog.Logger
	root *target // the root object this side offers; nil for none
	peer Peer    // who the peer proved to be (see peer.go); set before start

	peerRoot *Ref

	lanes     laneSet
	questions questionTable
	credits   callCredits
	heldPlans wire.Plans // the plans of held calls' records (held.go)
	answers   answerTable
	deadlines deadlineTable // of the handlers waiting on their context
	exports   exportTable
	imports   importTable
	ctl       controlQueue
	readers   sync.WaitGroup // the lanes' goroutines (see inLane.handOff)
	rmu       sync.Mutex
	draining  bool // the session is over: no more lane goroutines start

	closing          atomic.Bool   // no new incoming calls (Shutdown)
	goingAway        chan struct{} // closed once GOAWAY went either way: no new outgoing calls
	lastActive       atomic.Int64  // unix nanoseconds of the last rpc message, with an idle timeout
	badReleases      atomic.Int32
	exportViolations atomic.Int32
	done             chan struct{}
	err              error // why the connection ended; set before done is closed
	doneOnce         sync.Once

	notify broker.Notifications // NotifyOnDisconnect's functions
}

// newConn starts a broker over an established transport session.
func newConn(sess *transport.Session, o *options, reg *registry.Registry, root *target) *Conn {
	c := &Conn{
		sess:      sess,
		opts:      o,
		reg:       reg,
		log:       o.logger,
		root:      root,
		goingAway: make(chan struct{}),
		done:      make(chan struct{}),
	}
	c.peerRoot = &Ref{conn: c, id: rootID}
	c.lanes.init(min(o.maxLanes, sess.MaxOpen()))
	c.lanes.budget.init(max(o.answerBudget, o.maxMessageSize+lengthSize))
	c.questions.init(o.maxPendingCalls, c)
	c.credits.ready = make(chan struct{})
	c.answers.init(c)
	c.initExports(o.maxExports)
	c.imports.Init(c.queueRelease)
	o.metrics.conns.Add(1)
	o.metrics.connsTotal.Add(1)
	return c
}

// start runs the connection: lanes from the peer are read from now on.
func (c *Conn) start() {
	c.sess.AfterGoAway(c.finishAfterGoAway)
	c.awaitSettings()
	c.acceptLanes()
	c.watchIdle()
}

// Root returns a reference to the root object the peer offers. Calling it
// when the peer offers none fails with ErrNoSuchObject.
func (c *Conn) Root() *Ref { return c.peerRoot }

// Done returns a channel closed when the connection is gone.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (an error matching
// ErrConnectionLost), or nil while it is up.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.sess.LocalAddr() }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.sess.RemoteAddr() }

// NetConn returns the underlying network connection (for example to read a
// TLS connection's state).
func (c *Conn) NetConn() net.Conn { return c.sess.Conn() }

// Ping checks that the peer is alive: it waits for the transport's answer to
// a ping and returns the round-trip time, or ctx's error, or the
// connection's when it ends first.
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) { return c.sess.Ping(ctx) }

// Close closes the connection at once: pending calls on both sides fail with
// ErrConnectionLost, running handlers see their context cancelled, and every
// exported object is dropped. It is a normal end: the peer is told so (a
// NORMAL GOAWAY), and its calls fail with an error matching ErrShutdown too.
func (c *Conn) Close() error {
	c.shutdown(errClosed)
	return nil
}

// errClosed is the cause recorded when the connection is closed locally.
var errClosed = errors.New("closed locally")

// NotifyOnDisconnect arranges for f to be called, in its own goroutine, with
// the reason (matching ErrConnectionLost) when the connection is gone; at once
// if it already is. The returned function cancels the notification.
func (c *Conn) NotifyOnDisconnect(f func(error)) (cancel func()) {
	return c.notify.Add(f)
}

// shutdown ends the connection with cause, once.
func (c *Conn) shutdown(cause error) {
	c.doneOnce.Do(func() {
		// A close of this side's own choosing, or the peer's announced one,
		// is a normal end: ErrShutdown, told to the peer as a NORMAL GOAWAY.
		local := errors.Is(cause, errClosed) || errors.Is(cause, ErrShutdown)
		if errors.Is(cause, transport.ErrGoAway) && !errors.Is(cause, ErrShutdown) {
			cause = fmt.Errorf("%w: %w", ErrShutdown, cause)
		}
		c.err = lostError(cause)
		var pe *transport.ProtocolError
		if errors.As(cause, &pe) {
			c.log.Warn("rpc: closing connection", "remote", c.RemoteAddr(), "reason", cause)
		} else {
			c.log.Debug("rpc: connection ended", "remote", c.RemoteAddr(), "reason", cause)
		}
		switch {
		case local:
			c.sess.CloseGracefully(cause.Error())
		case errors.Is(cause, ErrProtocol):
			c.sess.CloseWithViolation(cause)
		default:
			c.sess.CloseWithError(cause)
		}
		close(c.done)
		if t := c.credits.timer.Load(); t != nil {
			t.Stop()
		}
		m := c.opts.metrics
		m.conns.Add(-1)
		st := c.sess.Stats()
		m.bytesIn.Add(st.BytesIn)
		m.bytesOut.Add(st.BytesOut)
		c.questions.closeAll(c.err)
		c.answers.cancelAll()
		c.answers.closeWorkers()
		c.deadlines.close()
		c.exports.Clear()
		c.imports.Clear()
		c.notify.Fire(c.err)
	})
}

// goAway starts the connection's graceful close: no new incoming calls, and
// a GOAWAY to the peer once this side's lanes are open.
func (c *Conn) goAway(ctx context.Context) {
	c.closing.Store(true)
	c.openLanes(ctx)
	c.sess.GoAway()
}

// transportError maps an error from the transport to what callers see.
func (c *Conn) transportError(err error) error {
	if cerr := c.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, transport.ErrConnectionLost) || errors.Is(err, transport.ErrSessionClosed) {
		return lostError(err)
	}
	return err
}
