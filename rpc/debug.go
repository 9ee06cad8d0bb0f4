package rpc

import (
	"cmp"
	"encoding/json"
	"net"
	"net/http"
	"slices"
)

// DebugPage is what a debug handler (Server.DebugHandler, Root.DebugHandler)
// serves, as JSON.
type DebugPage struct {
	// Stats are the server's counters (Server.Stats).
	Stats Totals
	// Children is the number of children connected; Root only (left out of
	// the JSON when there are none, like ChildList).
	Children int `json:",omitempty"`
	// Conns describes the open connections, sorted by remote address.
	Conns []DebugConn
	// Methods lists the root object's methods; only when the server
	// enabled WithIntrospection.
	Methods []MethodInfo `json:",omitempty"`
	// Service lists the targets of a Root's service; only when the root's
	// server enabled WithIntrospection.
	Service []MethodInfo `json:",omitempty"`
	// ChildList describes the connected children, sorted by name; Root only.
	ChildList []DebugChild `json:",omitempty"`
}

// DebugConn describes one connection on a debug page.
type DebugConn struct {
	Remote   string // the peer's network address
	Local    string // the local network address
	Identity string `json:",omitempty"` // the peer's proven identity (Peer)
	Stats           // the connection's counters (Conn.Stats)
	BytesIn  uint64 // transport bytes read on this connection
	BytesOut uint64 // transport bytes written on this connection
}

// DebugChild describes one child of a Root on a debug page.
type DebugChild struct {
	Name   string
	ID     uint64
	Remote string // the child's connection's remote address
}

// DebugPage returns the server's debug page: its counters, its connections
// and, with WithIntrospection, its root object's methods.
func (s *Server) DebugPage() DebugPage {
	p := DebugPage{Stats: s.Stats(), Conns: []DebugConn{}}
	for _, c := range s.Conns() {
		st := c.sess.Stats()
		p.Conns = append(p.Conns, DebugConn{
			Remote:   addrString(c.RemoteAddr()),
			Local:    addrString(c.LocalAddr()),
			Identity: c.Peer().Identity,
			Stats:    c.Stats(),
			BytesIn:  st.BytesIn,
			BytesOut: st.BytesOut,
		})
	}
	slices.SortFunc(p.Conns, func(a, b DebugConn) int {
		return cmp.Or(cmp.Compare(a.Remote, b.Remote), cmp.Compare(a.Local, b.Local))
	})
	if s.opts.introspection && s.root != nil {
		if l, ok := s.root.Dispatcher.(Lister); ok {
			p.Methods = describe(l.Methods())
		}
	}
	return p
}

// DebugPage returns the root's debug page: its server's (Server.DebugPage),
// its children and, with WithIntrospection, its service's targets.
func (r *Root) DebugPage() DebugPage {
	p := r.srv.DebugPage()
	kids := r.children.List()
	p.Children = len(kids)
	p.ChildList = make([]DebugChild, 0, len(kids))
	for _, c := range kids {
		dc := DebugChild{Name: c.name, ID: c.id}
		if c.conn != nil {
			dc.Remote = addrString(c.conn.RemoteAddr())
		}
		p.ChildList = append(p.ChildList, dc)
	}
	if r.srv.opts.introspection {
		p.Service = describe(r.svc.Methods())
	}
	return p
}

// DebugHandler returns an HTTP handler that serves the server's DebugPage
// as indented JSON, for GET and HEAD. It reveals the peers' addresses and,
// with WithIntrospection, the root's method signatures: mount it only where
// operators alone can reach it, for example
//
//	mux.Handle("GET /debug/firefly", srv.DebugHandler())
func (s *Server) DebugHandler() http.Handler { return debugHandler(s.DebugPage) }

// DebugHandler returns an HTTP handler that serves the root's DebugPage as
// indented JSON. See Server.DebugHandler.
func (r *Root) DebugHandler() http.Handler { return debugHandler(r.DebugPage) }

func debugHandler(page func() DebugPage) http.Handler {
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
