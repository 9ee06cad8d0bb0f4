package pb

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc"
)

// Defaults of the per-connection limits.
const (
	// DefaultMaxExports bounds the objects one connection exports by
	// reference: Twisted's MAX_BROKER_REFS. Passing more fails with an
	// error matching rpc.ErrTooManyReferences.
	DefaultMaxExports = 1024
	// DefaultMaxHandlers bounds the handlers running at once for one
	// connection; calls past it are answered with a failure matching
	// rpc.ErrOverloaded.
	DefaultMaxHandlers = 1024
	// DefaultMaxPendingCalls bounds the outgoing calls waiting for answers
	// (or abandoned by their callers, until the answer arrives); calls past
	// it fail with rpc.ErrTooManyCalls.
	DefaultMaxPendingCalls = 1 << 16
	// DefaultMaxQueued is how many bytes of outgoing commands a connection
	// queues before callers wait for the peer to read (backpressure).
	DefaultMaxQueued = 4 << 20
	// DefaultHandshakeTimeout bounds the dialect negotiation.
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultMaxHandshakes bounds the accepted connections a Server holds
	// in their negotiation at once; Serve stops accepting meanwhile.
	DefaultMaxHandshakes = 256
)

// An Option configures a Server or a dialled Conn.
type Option func(*options)

type options struct {
	logger           *slog.Logger
	registry         *registry.Registry
	maxExports       int
	maxHandlers      int
	maxPendingCalls  int
	maxQueued        int
	handshakeTimeout time.Duration
	maxHandshakes    int
	py2Strings       bool
	unsafeTracebacks bool
	onConnect        func(*Conn)
}

func newOptions(opts []Option) (*options, error) {
	o := &options{
		maxExports:       DefaultMaxExports,
		maxHandlers:      DefaultMaxHandlers,
		maxPendingCalls:  DefaultMaxPendingCalls,
		maxQueued:        DefaultMaxQueued,
		handshakeTimeout: DefaultHandshakeTimeout,
		maxHandshakes:    DefaultMaxHandshakes,
	}
	for _, opt := range opts {
		opt(o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.registry == nil {
		o.registry = rpc.NewRegistry()
	}
	for _, l := range []struct {
		name string
		n    int
	}{
		{"WithMaxExports", o.maxExports},
		{"WithMaxHandlers", o.maxHandlers},
		{"WithMaxPendingCalls", o.maxPendingCalls},
		{"WithMaxQueued", o.maxQueued},
		{"WithMaxHandshakes", o.maxHandshakes},
	} {
		if l.n <= 0 {
			return nil, fmt.Errorf("pb: %s(%d): the limit must be positive", l.name, l.n)
		}
	}
	if o.handshakeTimeout <= 0 {
		return nil, fmt.Errorf("pb: WithHandshakeTimeout(%v): the timeout must be positive", o.handshakeTimeout)
	}
	return o, nil
}

// WithLogger sends the broker's logs to l. The default discards them.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRegistry shares a method registry (see rpc.NewRegistry) with other
// servers and connections, on either wire, so each type's method table is
// built once.
func WithRegistry(r *registry.Registry) Option { return func(o *options) { o.registry = r } }

// WithMaxExports sets how many objects one connection may export by
// reference (Twisted's MAX_BROKER_REFS, 1024 by default).
func WithMaxExports(n int) Option { return func(o *options) { o.maxExports = n } }

// WithMaxHandlers sets how many handlers may run at once per connection.
func WithMaxHandlers(n int) Option { return func(o *options) { o.maxHandlers = n } }

// WithMaxPendingCalls sets how many outgoing calls may wait for answers at
// once per connection.
func WithMaxPendingCalls(n int) Option { return func(o *options) { o.maxPendingCalls = n } }

// WithMaxQueued sets how many bytes of outgoing commands a connection queues
// before callers wait for the peer to read.
func WithMaxQueued(n int) Option { return func(o *options) { o.maxQueued = n } }

// WithHandshakeTimeout bounds the dialect negotiation of each connection.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(o *options) { o.handshakeTimeout = d }
}

// WithMaxHandshakes sets how many accepted connections a Server holds in
// their negotiation at once; while that many are, Serve accepts no more.
func WithMaxHandshakes(n int) Option { return func(o *options) { o.maxHandshakes = n } }

// WithPython2Strings sends Go strings as bare byte strings, which a Python
// 2 peer (Firefly's era, Twisted up to 20.3) reads as its native str. The
// default sends them as ['unicode', ...], which a Python 3 peer reads as
// str. Both spellings are accepted on receipt either way.
func WithPython2Strings(on bool) Option { return func(o *options) { o.py2Strings = on } }

// WithUnsafeTracebacks sends the Go stack of a panicking handler to the peer
// in the failure's traceback (Twisted's unsafeTracebacks). Off by default.
func WithUnsafeTracebacks(on bool) Option { return func(o *options) { o.unsafeTracebacks = on } }

// WithOnConnect calls f with each new connection once negotiation is done,
// before any call on it is served.
func WithOnConnect(f func(*Conn)) Option { return func(o *options) { o.onConnect = f } }
