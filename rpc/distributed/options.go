package distributed

import (
	"context"
	"log/slog"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

// An Option configures a Root, a Node or a Service (NewRoot, NewNode,
// NewService). Each option says which it applies to; the others ignore it.
type Option func(*config)

// config is the union of what Options set.
type config struct {
	logger *slog.Logger
	svc    *Service // Root, Node

	// Service
	style RunStyle
	grace time.Duration

	// Root
	serverOpts  []rpc.Option
	liveness    time.Duration
	provedNames bool
	identity    func(rpc.Peer) string

	// Node
	incarnation string
	dialOpts    []rpc.Option
	base, max   time.Duration
	dialTimeout time.Duration
	wait        bool
	resolve     func(ctx context.Context, addr string) ([]string, error)
	dialer      Dialer
}

// newConfig returns the defaults with opts applied.
func newConfig(opts []Option) config {
	cfg := config{
		grace:       DefaultSerialGrace,
		liveness:    DefaultLivenessTimeout,
		base:        DefaultReconnectBase,
		max:         DefaultReconnectMax,
		dialTimeout: DefaultDialTimeout,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// WithRunStyle sets how the service runs its targets. The default is
// Parallel. (Firefly's default was SINGLE_STYLE; in Go, Serial is opt-in
// because a serial target that waits, through the network, for another call
// into its own service waits until its context ends.)
func WithRunStyle(s RunStyle) Option { return func(c *config) { c.style = s } }

// WithSerialGrace sets how long a Serial service waits for a call it looked
// up to start before giving its turn to the calls behind it. The broker looks
// a call up when it reads it and starts it a moment later, or abandons it
// (Abandon) when it refuses the call; the grace only matters for a lookup
// made outside the broker and never followed by a call. A call that starts after its
// grace is over still runs, one at a time, but as a new arrival. The default
// is DefaultSerialGrace; d <= 0 keeps it.
func WithSerialGrace(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.grace = d
		}
	}
}

// WithLogger sends the logs of the Root, Node or Service it configures to l:
// a root's children connecting and leaving (Info); a node's connections
// lost and made again (Info) and failed attempts (Debug); a service's
// unknown commands (Debug). The default discards them.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithService makes s the service of the Root or Node it configures, whose
// targets the peers call (Firefly's addServiceChannel). The default is a new
// Parallel service called "root" for a Root, named after the node for a
// Node.
func WithService(s *Service) Option { return func(c *config) { c.svc = s } }

// WithLivenessTimeout bounds the check the root makes before it gives a name
// held by a live child to a node of another incarnation (default
// DefaultLivenessTimeout): the holder's connection is pinged, and a holder
// that does not answer within d is taken for dead and replaced. d <= 0 keeps
// the default.
func WithLivenessTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.liveness = d
		}
	}
}

// WithProvedNames makes the root accept a node only under the name its
// connection proved: takeProxy's name must equal identity(peer), the
// identity of the node's connection, else the call fails with an error
// matching ErrIdentityMismatch (logged at Warn). identity nil means
// Peer.Identity when Peer.Verified, "" otherwise (an empty identity refuses
// every name). Use it with credentials that are each server's own (a
// keyring with a secret per identity, or TLS client certificates per
// server); with one secret shared by every node, names prove nothing.
func WithProvedNames(identity func(rpc.Peer) string) Option {
	return func(c *config) {
		c.provedNames = true
		c.identity = identity
	}
}

// WithServerOptions passes options to the root's Server (NewServer), such as
// rpc.WithLogger, rpc.WithTransportConfig or rpc.WithMaxLanes. Root only.
func WithServerOptions(opts ...rpc.Option) Option {
	return func(c *config) { c.serverOpts = append(c.serverOpts, opts...) }
}

// WithDialOptions passes options to every connection the node dials (Dial),
// such as rpc.WithTransportConfig or rpc.WithMaxLanes. Node only.
func WithDialOptions(opts ...rpc.Option) Option {
	return func(c *config) { c.dialOpts = append(c.dialOpts, opts...) }
}

// WithReconnectBackoff sets the delays between reconnection attempts: the
// first waits about base, each failed one doubles the delay, up to max. Each
// delay is jittered: a random time between half of it and all of it. The
// defaults are DefaultReconnectBase and DefaultReconnectMax; values <= 0
// keep them.
func WithReconnectBackoff(base, max time.Duration) Option {
	return func(c *config) {
		if base > 0 {
			c.base = base
		}
		if max > 0 {
			c.max = max
		}
	}
}

// WithDialTimeout bounds each of a node's reconnection attempts and each
// of Join's attempts (default DefaultDialTimeout). Connect is bounded by its
// context alone. Node only.
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.dialTimeout = d
		}
	}
}

// WithIncarnation sets the node's incarnation id (default: 16 random bytes
// in hex, new for each Node). Nodes that one process makes one after
// another for the same membership (a new Node for each address of a root
// that moved) may share one, so that the root lets the new one replace the
// old one's stale child; two processes must never share one. "" keeps the
// default.
func WithIncarnation(id string) Option { return func(c *config) { c.incarnation = id } }

// WithWaitForReconnect chooses what CallRemote and SendRemote do while the
// node is not connected. false (the default): they fail at once with an
// error matching ErrConnectionLost. true: they wait until the node is
// connected again, or until their context ends (the error then matches both
// ErrConnectionLost and the context's error).
func WithWaitForReconnect(on bool) Option { return func(c *config) { c.wait = on } }

// WithResolver makes the node look its address up with resolve before
// every attempt to connect (Connect's and each reconnection's), so that a
// root whose address changes (a DNS name that moved) is found again. The
// node dials the addresses resolve returns (host:port each) in order, until
// one accepts the handshake; a refusal of the node's name (ErrNameTaken,
// ErrIdentityMismatch) ends the attempt at once. An error of resolve, or
// no address, fails the attempt, which is retried as any other. Without it
// the node dials its address as it is. Node only.
func WithResolver(resolve func(ctx context.Context, addr string) ([]string, error)) Option {
	return func(c *config) { c.resolve = resolve }
}

// WithDialer makes the node reach its root with d instead of the firefly
// wire: every attempt to connect (Connect's, Join's, each reconnection's)
// calls d with each address (after WithResolver's lookup, if any), and the
// node supervises the Link it returns as its own connections: it
// reconnects with backoff when the link ends, runs the hooks, and sends
// CallRemote, GoRemote and SendRemote through the reference d returns.
// WithDialOptions does not apply to such a node; the incarnation is the
// dialer's to send or not. Package rpc/pb's NodeDialer joins a root over
// Twisted's Perspective Broker wire (a Python Firefly PBRoot). Node only.
func WithDialer(d Dialer) Option { return func(c *config) { c.dialer = d } }
