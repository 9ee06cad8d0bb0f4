package cluster

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// Defaults of the master and the servers.
const (
	// DefaultCallTimeout bounds each call the master makes on a server
	// (remote_connect, serverStop, sreload).
	DefaultCallTimeout = 10 * time.Second
	// DefaultStopWait is how long an admin stop waits for the servers to
	// leave before the master exits anyway.
	DefaultStopWait = 5 * time.Second
	// DefaultReconnectMax caps the delay between a server's attempts to
	// reach the master or a root.
	DefaultReconnectMax = time.Second
)

// An Option configures a Master or a Server.
type Option func(*options)

type options struct {
	logger      *slog.Logger
	base, max   time.Duration
	callTimeout time.Duration
	stopWait    time.Duration
	adminToken  []byte
	resolver    *net.Resolver
	introspect  bool
}

func newOptions(opts []Option) options {
	o := options{base: distributed.DefaultReconnectBase, max: DefaultReconnectMax, callTimeout: DefaultCallTimeout, stopWait: DefaultStopWait}
	for _, f := range opts {
		f(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// WithLogger sends the master's or server's logs (servers joining and
// leaving, orders sent and followed, at Info) to l. The default discards
// them.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithReconnectBackoff sets the delays between a server's attempts to reach
// the master and its roots (see distributed.WithReconnectBackoff). The defaults are
// distributed.DefaultReconnectBase and DefaultReconnectMax; values <= 0 keep them.
func WithReconnectBackoff(base, max time.Duration) Option {
	return func(o *options) {
		if base > 0 {
			o.base = base
		}
		if max > 0 {
			o.max = max
		}
	}
}

// WithAdminToken makes the admin clients (Stop, Reload, Status) send token,
// which the master of a secured cluster requires (see Config.AdminToken).
// A Master or a Server ignores it.
func WithAdminToken(token []byte) Option {
	token = bytes.Clone(token)
	return func(o *options) { o.adminToken = token }
}

// WithIntrospection lets the peers of the master's and the servers' roots
// list the methods of what those serve (rpc.WithIntrospection): a root's
// service targets, for "firefly methods" and "firefly call". Off by
// default.
func WithIntrospection(on bool) Option { return func(o *options) { o.introspect = on } }

// rootServerOptions returns the rpc options of a root of the cluster: sec's
// and introspection's.
func rootServerOptions(o options, sec *links) []distributed.Option {
	var opts []rpc.Option
	if sec != nil {
		opts = append(opts, sec.serve...)
	}
	if o.introspect {
		opts = append(opts, rpc.WithIntrospection(true))
	}
	ropts := []distributed.Option{distributed.WithServerOptions(opts...)}
	if sec != nil {
		ropts = append(ropts, sec.roots...)
	}
	return ropts
}

// WithCallTimeout bounds each call the master makes on a server (default
// DefaultCallTimeout); d <= 0 keeps it.
func WithCallTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.callTimeout = d
		}
	}
}
