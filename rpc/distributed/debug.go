package distributed

import (
	"net/http"

	"github.com/fireflyrpc/firefly/rpc"
)

// DebugPage is what Root.DebugHandler serves, as JSON: the root's server's
// page (rpc.DebugPage, whose fields the JSON holds at the top level) with
// the root's children and its service's targets.
type DebugPage struct {
	rpc.DebugPage
	// Children is the number of children connected (left out of the JSON
	// when there are none, like ChildList).
	Children int `json:",omitempty"`
	// Service lists the targets of the root's service; only when the root's
	// server enabled rpc.WithIntrospection.
	Service []rpc.MethodInfo `json:",omitempty"`
	// ChildList describes the connected children, sorted by name.
	ChildList []DebugChild `json:",omitempty"`
}

// DebugChild describes one child of a Root on a debug page.
type DebugChild struct {
	Name   string
	ID     uint64
	Remote string // the child's connection's remote address
}

// DebugPage returns the root's debug page: its server's (Server.DebugPage),
// its children and, with rpc.WithIntrospection, its service's targets.
func (r *Root) DebugPage() DebugPage {
	p := DebugPage{DebugPage: r.srv.DebugPage()}
	kids := r.children.List()
	p.Children = len(kids)
	p.ChildList = make([]DebugChild, 0, len(kids))
	for _, c := range kids {
		dc := DebugChild{Name: c.name, ID: c.id}
		if c.conn != nil {
			if a := c.conn.RemoteAddr(); a != nil {
				dc.Remote = a.String()
			}
		}
		p.ChildList = append(p.ChildList, dc)
	}
	if r.srv.Introspection() {
		p.Service = rpc.Describe(r.svc.Methods())
	}
	return p
}

// DebugHandler returns an HTTP handler that serves the root's DebugPage as
// indented JSON. See rpc.Server.DebugHandler.
func (r *Root) DebugHandler() http.Handler { return rpc.DebugHandlerFunc(r.DebugPage) }

// Expvar returns a variable for package expvar whose value is the root's
// Stats as a JSON object: the fields of rpc.Stats and "Children". See
// rpc.Server.Expvar.
func (r *Root) Expvar() rpc.ExpvarFunc { return func() any { return r.Stats() } }
