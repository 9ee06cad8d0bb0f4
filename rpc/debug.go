package rpc

import (
	"cmp"
	"encoding/json"
	"net"
	"net/http"
	"slices"
)

// DebugPage is what Server.DebugHandler serves, as JSON.
type DebugPage struct {
	// Stats are the server's counters (Server.Stats).
	Stats Stats
	// Conns describes the open connections, sorted by remote address.
	Conns []DebugConn
	// Methods lists the root object's methods; only when the server
	// enabled WithIntrospection.
	Methods []MethodInfo `json:",omitempty"`
}

// DebugConn describes one connection on a debug page: what is this
// connection's alone.
type DebugConn struct {
	Remote       string // the peer's network address
	Local        string // the local network address
	Identity     string `json:",omitempty"` // the peer's proven identity (Peer)
	BytesIn      uint64 // transport bytes read on this connection
	BytesOut     uint64 // transport bytes written on this connection
	PendingCalls int    // outgoing calls waiting for an answer
	Handlers     int    // handlers running
	Exports      int    // local objects the peer holds references to
	Imports      int    // live references to the peer's objects
}

// DebugPage returns the server's debug page: its counters, its connections
// and, with WithIntrospection, its root object's methods.
func (s *Server) DebugPage() DebugPage {
	p := DebugPage{Stats: s.Stats(), Conns: []DebugConn{}}
	for _, c := range s.Conns() {
		st := c.Stats()
		p.Conns = append(p.Conns, DebugConn{
			Remote:       addrString(c.RemoteAddr()),
			Local:        addrString(c.LocalAddr()),
			Identity:     c.Peer().Identity,
			BytesIn:      st.BytesIn,
			BytesOut:     st.BytesOut,
			PendingCalls: st.PendingCalls,
			Handlers:     st.Handlers,
			Exports:      st.Exports,
			Imports:      st.Imports,
		})
	}
	slices.SortFunc(p.Conns, func(a, b DebugConn) int {
		return cmp.Or(cmp.Compare(a.Remote, b.Remote), cmp.Compare(a.Local, b.Local))
	})
	if s.Introspection() && s.root != nil {
		if l, ok := s.root.Dispatcher.(Lister); ok {
			p.Methods = Describe(l.Methods())
		}
	}
	return p
}

// DebugHandler returns an HTTP handler that serves the server's DebugPage
// as indented JSON, for GET and HEAD. It reveals the peers' addresses and,
// with WithIntrospection, the root's method signatures: mount it only where
// operators alone can reach it, for example
//
//	mux.Handle("GET /debug/firefly", srv.DebugHandler())
func (s *Server) DebugHandler() http.Handler { return DebugHandlerFunc(s.DebugPage) }

// DebugHandlerFunc returns an HTTP handler that serves page's result as
// indented JSON, for GET and HEAD, as Server.DebugHandler does for its
// DebugPage; a layer above the server (package distributed's Root) serves
// its own page with it.
func DebugHandlerFunc[T any](page func() T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		b, err := json.MarshalIndent(page(), "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if req.Method == http.MethodHead {
			return
		}
		w.Write(append(b, '\n'))
	})
}

// addrString formats a, which may be nil.
func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
