package rpc

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/transport"
)

// Defaults of the per-connection limits.
const (
	// DefaultMaxMessageSize bounds one message (a call with its arguments, or
	// a result) in both directions. It is checked before anything is
	// allocated for the message.
	DefaultMaxMessageSize = 64 << 20
	// DefaultMaxHandlers bounds the handlers of two-way calls running at
	// once for one connection, and separately those of one-way calls. The
	// limit is announced to the peer, whose calls past it wait on its side;
	// a peer that ignores it gets ErrOverloaded.
	DefaultMaxHandlers = 1024
	// DefaultMaxPendingCalls bounds the outgoing calls waiting for answers on
	// one connection (waiting for the peer's handler limit, sent, or given up
	// with their answer still owed); calls past it fail with ErrTooManyCalls.
	DefaultMaxPendingCalls = 1 << 16
	// DefaultMaxExports bounds the objects one connection exports (PB's
	// MAX_BROKER_REFS); passing more fails with ErrTooManyReferences.
	DefaultMaxExports = 1 << 14
	// DefaultMaxLanes is the number of lanes each side may open for its
	// outgoing messages (see docs/PROTOCOL.md).
	DefaultMaxLanes = 8
	// DefaultMaxHandshakes bounds the accepted connections a Server holds in
	// their handshakes at once (TLS, shared secret, transport); Serve stops
	// accepting while that many are in progress.
	DefaultMaxHandshakes = 256
)

// An Option configures a Server or a dialled Conn.
type Option func(*options)

type options struct {
	root            any
	logger          *slog.Logger
	transport       *transport.Config
	registry        *registry.Registry
	maxMessageSize  int
	maxHandlers     int
	maxPendingCalls int
	maxExports      int
	maxLanes        int
	answerBudget    int
	maxHandshakes   int
	controlQueue    int
	stackTraces     bool
	introspection   bool
	onConnect       func(*Conn)
	metrics         *metrics

	// Security (see tls.go, auth.go and idle.go).
	tls         *tls.Config
	identity    string  // this side's shared-secret identity (dialling side)
	secret      []byte  // its secret
	keyring     Keyring // the serving side's secrets by identity
	idleTimeout time.Duration
}

func newOptions(opts []Option) *options {
	o := &options{
		maxMessageSize:  DefaultMaxMessageSize,
		maxHandlers:     DefaultMaxHandlers,
		maxPendingCalls: DefaultMaxPendingCalls,
		maxExports:      DefaultMaxExports,
		maxLanes:        DefaultMaxLanes,
		answerBudget:    DefaultAnswerBudget,
		maxHandshakes:   DefaultMaxHandshakes,
	}
	for _, opt := range opts {
		opt(o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.registry == nil {
		o.registry = NewRegistry()
	}
	o.controlQueue = max(64, 2*o.maxHandlers)
	o.metrics = new(metrics)
	return o
}

// Upper bounds of the limit options.
const (
	// maxMessageSizeLimit is what a message's 4-byte length can count.
	maxMessageSizeLimit = min(math.MaxUint32, math.MaxInt)
	// maxLanesLimit bounds WithMaxLanes (each lane is a stream).
	maxLanesLimit = transport.MaxStreamsLimit
)

// validate checks the limit options, naming the first one out of range.
func (o *options) validate() error {
	bad := func(name string, v any, reason string) error {
		return &OptionError{Option: name, Value: v, Reason: reason}
	}
	inRange := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return bad(name, v, fmt.Sprintf("out of range [%d, %d]", lo, hi))
		}
		return nil
	}
	for _, err := range []error{
		inRange("WithMaxMessageSize", o.maxMessageSize, 1, maxMessageSizeLimit),
		inRange("WithMaxHandlers", o.maxHandlers, 1, maxCallsLimit),
		inRange("WithMaxPendingCalls", o.maxPendingCalls, 1, 1<<slotBits),
		inRange("WithMaxExports", o.maxExports, 0, math.MaxInt32),
		inRange("WithMaxLanes", o.maxLanes, 1, maxLanesLimit),
		inRange("WithMaxHandshakes", o.maxHandshakes, 1, math.MaxInt32),
	} {
		if err != nil {
			return err
		}
	}
	if o.idleTimeout < 0 {
		return bad("WithIdleTimeout", o.idleTimeout, "negative duration")
	}
	if o.transport != nil {
		if err := o.transport.Validate(); err != nil {
			return &OptionError{Option: "WithTransportConfig", Value: *o.transport, Reason: err.Error(), Err: err}
		}
	}
	return nil
}

// NewRegistry returns a registry with the broker's rules: *Ref and
// referenceable types are accepted as whole parameters and results and
// refused nested inside other types.
func NewRegistry() *registry.Registry {
	return registry.New(registry.Options{Special: isSpecial})
}

// WithRoot offers v as this side's root object on a dialled connection, so
// the server can call it through Conn.Root. (A server's root is NewServer's
// argument.)
func WithRoot(v any) Option { return func(o *options) { o.root = v } }

// WithLogger sends the broker's logs to l. The default discards them.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithTransportConfig sets the multiplexer's configuration (frame size,
// windows, keepalive, handshake timeout). The default is
// transport.DefaultConfig.
func WithTransportConfig(cfg transport.Config) Option {
	return func(o *options) { o.transport = &cfg }
}

// WithRegistry shares a method registry (see NewRegistry) between servers
// and connections, so each type's method table is built once.
func WithRegistry(r *registry.Registry) Option { return func(o *options) { o.registry = r } }

// WithMaxMessageSize sets the largest message, in bytes, sent or accepted.
func WithMaxMessageSize(n int) Option { return func(o *options) { o.maxMessageSize = n } }

// WithMaxHandshakes sets how many accepted connections a Server's Serve
// holds in their handshakes at once; while that many are in progress, Serve
// accepts no more (they wait in the listener's backlog). Each is held for at
// most the handshake timeout. It applies to servers only.
func WithMaxHandshakes(n int) Option { return func(o *options) { o.maxHandshakes = n } }

// WithMaxHandlers sets how many two-way calls a connection takes from the
// peer at once, running or queued for a handler goroutine (and, separately,
// how many one-way calls; see the package doc for how they are run). The peer
// learns it when the connection starts and keeps its calls past it waiting on
// its side.
func WithMaxHandlers(n int) Option { return func(o *options) { o.maxHandlers = n } }

// WithMaxPendingCalls sets how many outgoing calls may wait for answers at
// once per connection, counting those that wait for the peer's handler limit.
func WithMaxPendingCalls(n int) Option { return func(o *options) { o.maxPendingCalls = n } }

// WithMaxExports sets how many objects one connection may export.
func WithMaxExports(n int) Option { return func(o *options) { o.maxExports = n } }

// WithMaxLanes sets how many lanes this side opens for outgoing messages.
func WithMaxLanes(n int) Option { return func(o *options) { o.maxLanes = n } }

// WithAnswerBudget bounds, per connection, the bytes of the peer's two-way
// calls taken from the wire and not yet answered (a call counts its message
// size until its answer is handed to the transport). A call that does not fit
// waits in the peer's flow control until answers free room. It is at least
// the message size limit.
func WithAnswerBudget(bytes int) Option { return func(o *options) { o.answerBudget = bytes } }

// WithStackTraces sends handler panic stack traces to the caller (in
// RemoteError.Stack). Off by default: a peer learns nothing of the serving
// code.
func WithStackTraces(on bool) Option { return func(o *options) { o.stackTraces = on } }

// WithOnConnect calls f with each new connection once it is ready, before
// any call on it is served.
func WithOnConnect(f func(*Conn)) Option { return func(o *options) { o.onConnect = f } }

// configure returns the options of a side (client: the dialling side) with
// opts applied, once they are checked: before any connection is made.
func configure(opts []Option, client bool) (*options, error) {
	o := newOptions(opts)
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := o.checkAuth(client); err != nil {
		return nil, err
	}
	return o, nil
}
