package netconnect

import (
	"io"
	"log/slog"
	"time"
)

// Defaults of a server's per-session limits.
const (
	// DefaultIdleTimeout closes a session that sends nothing for this long.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultWriteQueue bounds the bytes of packets waiting to be written
	// to one session; a session whose client does not read that much is
	// closed (ErrQueueFull).
	DefaultWriteQueue = 256 << 10
	// DefaultWriteTimeout closes a session whose client accepts none of a
	// write for this long (ErrWriteTimeout).
	DefaultWriteTimeout = 10 * time.Second
	// DefaultRate and DefaultBurst are a session's packet rate limit: a
	// session that sends faster than DefaultRate packets a second, beyond a
	// burst of DefaultBurst, is read only as fast as the rate allows.
	DefaultRate  = 1000
	DefaultBurst = 1000
	// DefaultMaxSessions bounds the sessions a server holds; connections
	// past it are closed at once (ErrTooManySessions).
	DefaultMaxSessions = 20000
	// DefaultPushQueue is how many pushes a Client holds for Recv before it
	// stops reading.
	DefaultPushQueue = 64
)

// An Option configures a Server or a Client. Options about sessions and
// their limits apply to servers only; WithDatapack, WithLogger and
// WithPushQueue apply to clients too.
type Option func(*options)

type options struct {
	datapack     Datapack
	logger       *slog.Logger
	idleTimeout  time.Duration
	writeQueue   int
	writeTimeout time.Duration
	rate         float64
	burst        int
	maxSessions  int
	pushQueue    int
	service      *Service
}

func newOptions(opts []Option) options {
	o := options{
		idleTimeout:  DefaultIdleTimeout,
		writeQueue:   DefaultWriteQueue,
		writeTimeout: DefaultWriteTimeout,
		rate:         DefaultRate,
		burst:        DefaultBurst,
		maxSessions:  DefaultMaxSessions,
		pushQueue:    DefaultPushQueue,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.service == nil {
		o.service = NewService()
	}
	return o
}

// WithDatapack sets the packet format: head bytes, versions, largest body
// (default: the zero Datapack, Firefly's defaults).
func WithDatapack(d Datapack) Option { return func(o *options) { o.datapack = d } }

// WithMaxBody sets the largest packet body read or written, in bytes
// (default DefaultMaxBody). A session that announces a larger one is closed
// before its body is read (ErrTooLarge).
func WithMaxBody(n int) Option { return func(o *options) { o.datapack.MaxBody = n } }

// WithLogger sets the logger (default: none). Sessions closed for a limit
// are logged at Warn with their reason, other closes at Debug.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithIdleTimeout closes a session that sends no packet for d (default
// DefaultIdleTimeout); 0 turns it off.
func WithIdleTimeout(d time.Duration) Option { return func(o *options) { o.idleTimeout = d } }

// WithWriteQueue bounds the bytes of packets queued for one session
// (default DefaultWriteQueue). A packet that would pass it closes the
// session (ErrQueueFull): a client that does not read never makes the
// server hold more than this for it.
func WithWriteQueue(bytes int) Option { return func(o *options) { o.writeQueue = bytes } }

// WithWriteTimeout closes a session whose pending write makes no progress
// for d (default DefaultWriteTimeout); 0 turns it off.
func WithWriteTimeout(d time.Duration) Option { return func(o *options) { o.writeTimeout = d } }

// WithRateLimit limits each session to perSecond packets a second, with
// bursts of up to burst packets (default DefaultRate, DefaultBurst). A
// session over its rate is not dropped: its next packet is read when its
// rate allows, so a client that sends too fast is slowed down (TCP stops
// it) and counted in Stats.RateLimited. perSecond <= 0 turns it off.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(o *options) { o.rate, o.burst = perSecond, max(burst, 1) }
}

// WithMaxSessions bounds the sessions a server holds (default
// DefaultMaxSessions); a connection past it is closed at once and counted
// in Stats.Refused.
func WithMaxSessions(n int) Option { return func(o *options) { o.maxSessions = n } }

// WithService sets the server's command service (default: a new, empty
// one).
func WithService(s *Service) Option { return func(o *options) { o.service = s } }

// WithPushQueue sets how many pushes a Client holds for Recv (default
// DefaultPushQueue); when they are all unread, the client stops reading
// its connection until Recv takes one.
func WithPushQueue(n int) Option { return func(o *options) { o.pushQueue = max(n, 1) } }
