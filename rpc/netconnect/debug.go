package netconnect

import (
	"net/http"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

// DebugPage is what Server.DebugHandler serves, as JSON: the server's
// counters and the limits it enforces.
type DebugPage struct {
	// Stats are the server's counters (Server.Stats).
	Stats Stats
	// Limits are the server's per-session limits.
	Limits Limits
}

// Limits are a server's limits as its options set them (options.go); a
// zero duration or rate is no limit.
type Limits struct {
	MaxSessions  int
	MaxBody      int // bytes of a packet's body, in and out
	WriteQueue   int // bytes waiting to be written to one session
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	Rate         float64 // packets a second per session
	Burst        int
}

// Limits returns the server's limits.
func (s *Server) Limits() Limits {
	o := &s.opts
	return Limits{
		MaxSessions:  o.maxSessions,
		MaxBody:      o.datapack.maxBody(),
		WriteQueue:   o.writeQueue,
		WriteTimeout: o.writeTimeout,
		IdleTimeout:  o.idleTimeout,
		Rate:         o.rate,
		Burst:        o.burst,
	}
}

// DebugPage returns the server's debug page.
func (s *Server) DebugPage() DebugPage { return DebugPage{Stats: s.Stats(), Limits: s.Limits()} }

// DebugHandler returns an HTTP handler that serves the server's DebugPage
// as indented JSON, for GET and HEAD, as rpc.Server.DebugHandler does for
// its own:
//
//	mux.Handle("GET /debug/netconnect", srv.DebugHandler())
func (s *Server) DebugHandler() http.Handler { return rpc.DebugHandlerFunc(s.DebugPage) }

// Expvar returns a variable for package expvar whose value is the server's
// Stats, read afresh each time, as a JSON object with the fields of Stats
// ("Sessions", "BytesOut", "Closed", ...). Nothing is published until the
// program does so:
//
//	expvar.Publish("netconnect", srv.Expvar())
func (s *Server) Expvar() rpc.ExpvarFunc { return func() any { return s.Stats() } }
