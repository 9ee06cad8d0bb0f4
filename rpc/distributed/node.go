package distributed

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc"
)

// Defaults of a Node's reconnection.
const (
	// DefaultReconnectBase is the delay before the first reconnection
	// attempt; each failed attempt doubles it, up to DefaultReconnectMax.
	DefaultReconnectBase = 50 * time.Millisecond
	// DefaultReconnectMax caps the delay between reconnection attempts.
	DefaultReconnectMax = 5 * time.Second
	// DefaultDialTimeout bounds one reconnection attempt: dial, transport
	// handshake and the takeProxy call.
	DefaultDialTimeout = 5 * time.Second
)

var (
	// ErrNodeClosed reports a call on, or Connect of, a closed Node.
	ErrNodeClosed = errors.New("distributed: node closed")
	// ErrNodeConnected reports a second Connect of a Node.
	ErrNodeConnected = errors.New("distributed: node already connected")
)

// A Link is a node's connection to its root, on whichever wire carries it:
// a *rpc.Conn on the firefly wire, or another wire's connection (package
// rpc/pb's *pb.Conn on Twisted's Perspective Broker wire; see WithDialer).
type Link interface {
	// Done is closed when the connection is gone.
	Done() <-chan struct{}
	// Err returns why the connection ended (an error matching
	// rpc.ErrConnectionLost), or nil while it is up.
	Err() error
	// Close closes the connection.
	Close() error
	// LocalAddr and RemoteAddr are the connection's two ends.
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

// A Dialer connects node n to its root at addr (host:port) and runs the
// join handshake: it hands the root n's service, so that the root's calls
// on n's child run n.Service's targets, and returns the connection and a
// reference whose calls of a command (a method name, or an int id in
// decimal) run the root's targets. ctx bounds the dial and the handshake,
// not the connection's life. An error matching ErrNameTaken or
// ErrIdentityMismatch is a refusal of n's name (see Join). A Dialer is
// safe for concurrent use.
type Dialer func(ctx context.Context, n *Node, addr string) (Link, *rpc.Ref, error)

// Node is the client side of Firefly's distributed layer (RemoteObject): a
// named process that connects to a Root, hands it a ProxyReference to its
// Service with the "takeProxy" handshake, and calls the root's service
// (CallRemote, SendRemote) while the root calls its own.
//
// Once connected, a Node stays connected by itself: when the connection is
// lost (network failure, the root dropping it, the root process restarting
// on the same address) it dials again with exponential backoff and jitter
// (WithReconnectBackoff) and redoes the handshake, until it is back or Close
// is called. The root sees each reconnection as a new Child of the same name.
// A call in flight when the connection is lost fails with an error matching
// ErrConnectionLost and is not retried (it may or may not have run). What
// calls made while disconnected do is WithWaitForReconnect's choice.
//
// The node sends its incarnation, an id it keeps for its life
// (WithIncarnation), with each takeProxy, so that the root tells the node
// reconnecting (which replaces its own stale child) from another live
// process under the same name (which is refused: Connect returns an error
// matching ErrNameTaken; a reconnection attempt refused so is logged at
// Error, and the node keeps trying at the longest backoff delay, in case the
// holder goes away).
//
// The node speaks the firefly wire unless WithDialer says how else to
// reach the root (package rpc/pb's NodeDialer: Twisted's PB wire, to a
// Python Firefly root); the supervision above is the same on every wire.
//
// A process may run several Nodes, to the same or different roots.
type Node struct {
	name  string
	cfg   config
	svc   *Service
	proxy *ProxyReference
	log   *slog.Logger
	reg   *registry.Registry

	life   context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu           sync.Mutex
	addr         string
	link         Link
	remote       *rpc.Ref      // the root's service on link
	changed      chan struct{} // closed and replaced when link changes or on Close
	connecting   bool
	started      bool
	closed       bool
	onConnect    func(*rpc.Conn)
	onDisconnect func(error)
}

// NewNode returns a node called name, not yet connected.
func NewNode(name string, opts ...Option) *Node {
	cfg := newConfig(opts)
	if cfg.max < cfg.base {
		cfg.max = cfg.base
	}
	if cfg.svc == nil {
		cfg.svc = NewService(name)
	}
	if cfg.incarnation == "" {
		var b [16]byte
		crand.Read(b[:])
		cfg.incarnation = hex.EncodeToString(b[:])
	}
	n := &Node{
		name:    name,
		cfg:     cfg,
		svc:     cfg.svc,
		proxy:   NewProxyReference(cfg.svc),
		log:     cfg.logger,
		reg:     rpc.NewRegistry(),
		changed: make(chan struct{}),
	}
	n.life, n.cancel = context.WithCancel(context.Background())
	return n
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Incarnation returns the id the node sends with takeProxy (see
// WithIncarnation).
func (n *Node) Incarnation() string { return n.cfg.incarnation }

// Service returns the service whose targets the root calls.
func (n *Node) Service() *Service { return n.svc }

// Proxy returns the reference the node hands the root.
func (n *Node) Proxy() *ProxyReference { return n.proxy }

// OnConnect sets a hook run after each successful handshake, the first one
// included, with the new connection (nil for a link on another wire, see
// WithDialer: Link returns it); nil removes it. Hooks run one at a
// time on the node's own goroutine, connect and disconnect alternating; they
// must not call Close.
func (n *Node) OnConnect(f func(*rpc.Conn)) {
	n.mu.Lock()
	n.onConnect = f
	n.mu.Unlock()
}

// OnDisconnect sets a hook run each time the connection is lost, with the
// reason (matching ErrConnectionLost), before the node starts reconnecting;
// nil removes it. It does not run for Close.
func (n *Node) OnDisconnect(f func(error)) {
	n.mu.Lock()
	n.onDisconnect = f
	n.mu.Unlock()
}

// Connect dials the root at addr (TCP), hands it the node's proxy with the
// takeProxy handshake, and keeps the reference to the root's service that
// the handshake returns (WithDialer: the dialer's connection and
// reference). ctx bounds this first attempt, which is not retried:
// on error the node stays unconnected and Connect may be called again. After
// it succeeds, the node reconnects to addr by itself until Close. With
// WithResolver, addr is what the resolver looks up, before each attempt.
func (n *Node) Connect(ctx context.Context, addr string) error {
	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		return ErrNodeClosed
	case n.started || n.connecting:
		n.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNodeConnected, n.name)
	}
	n.connecting = true
	n.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(n.life, cancel)
	link, remote, err := n.dial(ctx, addr)
	stop()
	cancel()

	n.mu.Lock()
	n.connecting = false
	if err == nil && n.closed {
		err = ErrNodeClosed
		link.Close()
	}
	if err != nil {
		n.mu.Unlock()
		return err
	}
	n.started = true
	n.addr = addr
	n.setLink(link, remote)
	n.wg.Add(1)
	n.mu.Unlock()
	go n.supervise(link)
	return nil
}

// dial resolves addr (WithResolver) and connects to the first address
// that accepts the handshake.
func (n *Node) dial(ctx context.Context, addr string) (Link, *rpc.Ref, error) {
	if n.cfg.resolve == nil {
		return n.dialAddr(ctx, addr)
	}
	addrs, err := n.cfg.resolve(ctx, addr)
	if err == nil && len(addrs) == 0 {
		err = errors.New("no address")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("distributed: node %q: resolving %s: %w", n.name, addr, err)
	}
	var errs []error
	for _, a := range addrs {
		link, remote, err := n.dialAddr(ctx, a)
		if err == nil {
			return link, remote, nil
		}
		if refused(err) || ctx.Err() != nil {
			return nil, nil, err
		}
		errs = append(errs, err)
	}
	return nil, nil, errors.Join(errs...)
}

// dialAddr connects to addr and runs the handshake, with the node's Dialer
// if it has one.
func (n *Node) dialAddr(ctx context.Context, addr string) (Link, *rpc.Ref, error) {
	if n.cfg.dialer != nil {
		link, remote, err := n.cfg.dialer(ctx, n, addr)
		if err == nil && (link == nil || remote == nil) {
			if link != nil {
				link.Close()
			}
			err = errors.New("the dialer returned no connection or no reference")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("distributed: node %q: joining %s: %w", n.name, addr, err)
		}
		return link, remote, nil
	}
	opts := append([]rpc.Option{rpc.WithRegistry(n.reg)}, n.cfg.dialOpts...)
	conn, err := rpc.Dial(ctx, "tcp", addr, opts...)
	if err != nil {
		return nil, nil, err
	}
	var remote *rpc.Ref
	if err := conn.Root().Call(ctx, "takeProxy", &remote, n.name, n.proxy, n.cfg.incarnation); err != nil {
		local := conn.LocalAddr()
		conn.Close()
		return nil, nil, fmt.Errorf("distributed: node %q (from %s): takeProxy at %s: %w", n.name, local, addr, err)
	}
	return conn, remote, nil
}

// setLink installs the current connection (nil: none) and wakes the calls
// waiting for a change. n.mu is held.
func (n *Node) setLink(link Link, remote *rpc.Ref) {
	n.link, n.remote = link, remote
	close(n.changed)
	n.changed = make(chan struct{})
}

// supervise runs the connect hook, watches the connection and makes a new
// one when it is lost, until Close.
func (n *Node) supervise(link Link) {
	defer n.wg.Done()
	n.mu.Lock()
	onConnect := n.onConnect
	n.mu.Unlock()
	if onConnect != nil {
		onConnect(rpcConn(link))
	}
	for {
		select {
		case <-link.Done():
		case <-n.life.Done():
			return
		}
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return
		}
		if n.link == link {
			n.setLink(nil, nil)
		}
		hook := n.onDisconnect
		addr := n.addr
		n.mu.Unlock()
		reason := link.Err()
		n.log.Info("distributed: node lost its connection", "node", n.name, "addr", addr, "reason", reason)
		if hook != nil {
			hook(reason)
		}

		var remote *rpc.Ref
		if link, remote = n.reconnect(addr); link == nil {
			return
		}
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			link.Close()
			return
		}
		n.setLink(link, remote)
		onConnect = n.onConnect
		n.mu.Unlock()
		n.log.Info("distributed: node reconnected", "node", n.name, "addr", addr)
		if onConnect != nil {
			onConnect(rpcConn(link))
		}
	}
}

// rpcConn returns link as a *rpc.Conn, or nil for a link on another wire.
func rpcConn(link Link) *rpc.Conn {
	c, _ := link.(*rpc.Conn)
	return c
}

// reconnect dials addr with backoff until it succeeds (returning the new
// connection) or the node is closed (returning nil).
func (n *Node) reconnect(addr string) (Link, *rpc.Ref) {
	for attempt := 0; ; attempt++ {
		if !n.wait(n.life, n.backoff(attempt)) {
			return nil, nil
		}
		ctx, cancel := context.WithTimeout(n.life, n.cfg.dialTimeout)
		link, remote, err := n.dial(ctx, addr)
		cancel()
		if err == nil {
			return link, remote
		}
		attempt = n.failed(addr, attempt, err)
	}
}

// Join connects to the root at addr as Connect does, but keeps trying until
// the node is in: each attempt is bounded by the dial timeout
// (WithDialTimeout), and a failed one is tried again after the node's
// backoff (WithReconnectBackoff), or after the longest delay when the root
// refused the name (ErrNameTaken, ErrIdentityMismatch; logged at Error).
// Join returns nil once the node is connected, from then on reconnecting by
// itself; an error matching ctx's when ctx ends first, with the last
// attempt's error; ErrNodeClosed when the node is closed; ErrNodeConnected
// when it is connected or connecting already.
func (n *Node) Join(ctx context.Context, addr string) error {
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, n.cfg.dialTimeout)
		err := n.Connect(actx, addr)
		cancel()
		switch {
		case err == nil, errors.Is(err, ErrNodeClosed), errors.Is(err, ErrNodeConnected):
			return err
		case ctx.Err() != nil:
			return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
		}
		attempt = n.failed(addr, attempt, err)
		if !n.wait(ctx, n.backoff(attempt)) {
			if n.life.Err() != nil {
				return ErrNodeClosed
			}
			return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
		}
	}
}

// failed logs a failed connection attempt and returns the attempt number
// to continue from: past the longest delay when the root refused the name.
func (n *Node) failed(addr string, attempt int, err error) int {
	if refused(err) {
		n.log.Error("distributed: node refused by the root", "node", n.name, "addr", addr, "attempt", attempt+1, "err", err)
		return max(attempt, 32) // the longest delay from now on
	}
	n.log.Debug("distributed: node connection attempt failed", "node", n.name, "addr", addr, "attempt", attempt+1, "err", err)
	return attempt
}

// wait waits d, and reports false when ctx or the node's life ends first.
func (n *Node) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-n.life.Done():
	}
	return false
}

// refused reports whether err is a root's refusal of the node's name
// (another live node holds it, or the connection did not prove it), which
// retrying soon does not cure.
func refused(err error) bool {
	return errors.Is(err, ErrNameTaken) || errors.Is(err, ErrIdentityMismatch)
}

// backoff returns the jittered delay before attempt (0-based): between half
// and all of min(max, base * 2^attempt).
func (n *Node) backoff(attempt int) time.Duration {
	d := n.cfg.max
	if attempt < 32 {
		if e := n.cfg.base << attempt; e > 0 && e < d {
			d = e
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Connected reports whether the node has a live connection to its root.
func (n *Node) Connected() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.link != nil && n.link.Err() == nil
}

// Conn returns the current connection, or nil while disconnected or when
// the link is on another wire (see Link).
func (n *Node) Conn() *rpc.Conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return rpcConn(n.link)
}

// Link returns the current connection, on whichever wire, or nil while
// disconnected.
func (n *Node) Link() Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.link
}

// Remote returns the reference to the root's service on the current
// connection, or nil while disconnected.
func (n *Node) Remote() *rpc.Ref {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.remote
}

// remoteRef returns the root's service on a live connection, failing fast or
// waiting as configured.
func (n *Node) remoteRef(ctx context.Context) (*rpc.Ref, error) {
	for {
		n.mu.Lock()
		closed, link, remote, changed := n.closed, n.link, n.remote, n.changed
		n.mu.Unlock()
		switch {
		case closed:
			return nil, fmt.Errorf("%w: %q", ErrNodeClosed, n.name)
		case link != nil && link.Err() == nil:
			return remote, nil
		case !n.cfg.wait:
			return nil, fmt.Errorf("%w: node %q is not connected", rpc.ErrConnectionLost, n.name)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: node %q waited for its connection: %w", rpc.ErrConnectionLost, n.name, ctx.Err())
		}
	}
}

// CallRemote runs command (a name or an int id) on the root's service and
// stores the result in reply, a pointer, or nil to discard it (Firefly's
// callRemote -> remote_callTarget). Errors are as for Ref.Call, and see
// WithWaitForReconnect for calls made while the node is not connected.
func (n *Node) CallRemote(ctx context.Context, command any, reply any, args ...any) error {
	remote, name, err := n.target(ctx, command)
	if err != nil {
		return err
	}
	return remote.Call(ctx, name, reply, args...)
}

// target returns the root's service on a live connection (see remoteRef)
// and the method name of command.
func (n *Node) target(ctx context.Context, command any) (*rpc.Ref, string, error) {
	name, err := commandName(command)
	if err != nil {
		return nil, "", err
	}
	remote, err := n.remoteRef(ctx)
	return remote, name, err
}

// GoRemote starts CallRemote asynchronously, like Ref.Go. While the node is
// not connected the call fails at once, or waits (in its own goroutine) with
// WithWaitForReconnect.
func (n *Node) GoRemote(ctx context.Context, command any, reply any, done chan *rpc.Call, args ...any) *rpc.Call {
	call := rpc.NewCall(fmt.Sprint(command), reply, done, args...)
	name, err := commandName(command)
	if err != nil {
		return complete(call, err)
	}
	n.mu.Lock()
	link, remote := n.link, n.remote
	n.mu.Unlock()
	if link == nil || link.Err() != nil {
		if !n.cfg.wait {
			if _, err := n.remoteRef(ctx); err != nil {
				return complete(call, err)
			}
		}
		call.Method = name
		go func() { complete(call, n.CallRemote(ctx, name, reply, args...)) }()
		return call
	}
	return remote.Go(ctx, name, reply, call.Done, args...)
}

// SendRemote runs command on the root's service without waiting for, or
// getting, an answer, like Ref.Send.
func (n *Node) SendRemote(ctx context.Context, command any, args ...any) error {
	remote, name, err := n.target(ctx, command)
	if err != nil {
		return err
	}
	return remote.Send(ctx, name, args...)
}

// Close closes the connection, stops reconnecting and returns once the
// node's goroutines are gone. Calls waiting for a connection fail with
// ErrNodeClosed. Close is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		n.wg.Wait()
		return nil
	}
	n.closed = true
	link := n.link
	n.setLink(nil, nil)
	n.mu.Unlock()
	n.cancel()
	if link != nil {
		link.Close()
	}
	n.wg.Wait()
	return nil
}
