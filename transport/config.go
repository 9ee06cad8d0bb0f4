package transport

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults and bounds for Config. The default window is measured: a stream's
// window bounds the bulk data that can queue in the connection ahead of a
// small message on another stream, and at 256 KiB a small call's p99 latency
// beside a 16 MiB transfer is about half of what it is at 512 KiB, while a
// 1 MiB echo over loopback is as fast (at 128 KiB it is about a third slower).
// While streams share the connection, each is held to a smaller share of its
// window (credit.go).
const (
	DefaultMaxFrameSize      = 16 << 10
	DefaultInitialWindow     = 256 << 10
	DefaultMaxStreams        = 1024
	DefaultAcceptBacklog     = 256
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultKeepAliveInterval = 15 * time.Second
	DefaultKeepAliveTimeout  = 30 * time.Second
	DefaultSendStallTimeout  = 30 * time.Second

	// MinFrameSize and MaxFrameSizeLimit bound Config.MaxFrameSize and the
	// max frame size a peer may advertise.
	MinFrameSize      = 1 << 10
	MaxFrameSizeLimit = 16 << 20
	// MinWindow and MaxWindow bound Config.InitialWindow and the window a
	// peer may advertise; MaxWindow is also the largest credit a stream may
	// ever hold.
	MinWindow = 1 << 10
	MaxWindow = 1<<31 - 1
	// MaxStreamsLimit bounds Config.MaxStreams and the stream limit a peer
	// may advertise.
	MaxStreamsLimit = 1 << 24
)

// Config tunes a Session. Start from DefaultConfig and change what you need:
// a zero field takes its default, except KeepAliveInterval, where zero turns
// keepalive off.
type Config struct {
	// MaxFrameSize is the largest DATA payload this side accepts, in bytes,
	// and the largest it sends (it also honours the peer's limit). Writes
	// are cut into frames no larger; it bounds how long a large transfer can
	// delay a small message on another stream.
	MaxFrameSize int

	// InitialWindow is the receive window of every stream, in bytes: how
	// much the peer may send on a stream before this side's reader has
	// consumed it. It bounds the memory a stream can pin.
	InitialWindow uint32

	// MaxStreams is the largest number of concurrently open streams the peer
	// may open towards this side; it also caps the streams this side opens.
	// Open beyond it fails with ErrStreamLimit; a peer that opens beyond it
	// is refused with a reset, and a peer that keeps doing so commits a
	// protocol violation.
	MaxStreams int

	// AcceptBacklog is the largest number of streams opened by the peer and
	// not yet returned by Accept. A new stream beyond it is refused with a
	// reset (ResetRefused).
	AcceptBacklog int

	// HandshakeTimeout bounds the preface exchange.
	HandshakeTimeout time.Duration

	// KeepAliveInterval is how long the connection may stay silent before
	// this side sends a PING. Zero disables keepalive.
	KeepAliveInterval time.Duration

	// KeepAliveTimeout is how long the peer may stay silent (no frame of any
	// kind, including ping answers) before the session is declared dead
	// with ErrConnectionLost. Used only when KeepAliveInterval > 0.
	KeepAliveTimeout time.Duration

	// SendStallTimeout is how long data this side has to send may make no
	// progress before the session is closed with ErrSendStalled: a write
	// waiting for the peer's flow-control credit while no WINDOW_UPDATE
	// arrives on any stream, or a write to the connection that the peer does
	// not drain. It is the bound on how long a peer that stops granting
	// credit or stops reading can pin this side's queued data (as an HTTP
	// server's write timeout). Zero takes the default; a negative value
	// turns it off.
	SendStallTimeout time.Duration

	// Logger receives session events (close reasons at Debug or Info).
	// Nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{
		MaxFrameSize:      DefaultMaxFrameSize,
		InitialWindow:     DefaultInitialWindow,
		MaxStreams:        DefaultMaxStreams,
		AcceptBacklog:     DefaultAcceptBacklog,
		HandshakeTimeout:  DefaultHandshakeTimeout,
		KeepAliveInterval: DefaultKeepAliveInterval,
		KeepAliveTimeout:  DefaultKeepAliveTimeout,
		SendStallTimeout:  DefaultSendStallTimeout,
	}
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = d.MaxFrameSize
	}
	if c.InitialWindow == 0 {
		c.InitialWindow = d.InitialWindow
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = d.MaxStreams
	}
	if c.AcceptBacklog == 0 {
		c.AcceptBacklog = d.AcceptBacklog
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	if c.SendStallTimeout == 0 {
		c.SendStallTimeout = d.SendStallTimeout
	}
	if c.KeepAliveInterval > 0 && c.KeepAliveTimeout == 0 {
		c.KeepAliveTimeout = d.KeepAliveTimeout
	}
	return c
}

// Validate reports whether c, after zero fields take their defaults, is
// usable.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MaxFrameSize < MinFrameSize || c.MaxFrameSize > MaxFrameSizeLimit:
		return fmt.Errorf("transport: Config.MaxFrameSize %d out of range [%d, %d]", c.MaxFrameSize, MinFrameSize, MaxFrameSizeLimit)
	case c.InitialWindow < MinWindow || c.InitialWindow > MaxWindow:
		return fmt.Errorf("transport: Config.InitialWindow %d out of range [%d, %d]", c.InitialWindow, MinWindow, MaxWindow)
	case c.MaxStreams < 1 || c.MaxStreams > MaxStreamsLimit:
		return fmt.Errorf("transport: Config.MaxStreams %d out of range [1, %d]", c.MaxStreams, MaxStreamsLimit)
	case c.AcceptBacklog < 1 || c.AcceptBacklog > MaxStreamsLimit:
		return fmt.Errorf("transport: Config.AcceptBacklog %d out of range [1, %d]", c.AcceptBacklog, MaxStreamsLimit)
	case c.HandshakeTimeout < 0:
		return fmt.Errorf("transport: Config.HandshakeTimeout %v is negative", c.HandshakeTimeout)
	case c.KeepAliveInterval < 0:
		return fmt.Errorf("transport: Config.KeepAliveInterval %v is negative", c.KeepAliveInterval)
	case c.KeepAliveInterval > 0 && c.KeepAliveTimeout < 0:
		return fmt.Errorf("transport: Config.KeepAliveTimeout %v is negative", c.KeepAliveTimeout)
	}
	return nil
}
