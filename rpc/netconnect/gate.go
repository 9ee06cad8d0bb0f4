package netconnect

import (
	"context"
	"sync/atomic"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// A Gate is the gate's side of Forward: the root that front-ends join as
// nodes, receiving their clients' packets and pushing packets back through
// them. Its pushes are one-way calls (distributed.Root.SendChild) on the front-end
// node called net.
type Gate struct {
	root *distributed.Root
	// names maps the connections of the root's children to their names,
	// as the children were when it was last made; a name is checked
	// against the root before it is used.
	names atomic.Pointer[map[*rpc.Conn]string]
}

// NewGate returns the gate side on root.
func NewGate(root *distributed.Root) *Gate { return &Gate{root: root} }

// Forwarded is a client packet a front-end forwarded.
type Forwarded struct {
	// Net is the name of the front-end node it came through.
	Net string
	// Command is the packet's command id.
	Command uint32
	// Session is the client's session id on that front-end.
	Session uint64
	// Data is the packet's body.
	Data []byte
}

// HandleForwarding maps ForwardingCommand on the root's service to fn; fn's
// non-empty result is the reply sent to the client. It fails like
// distributed.Service.Map if the command is mapped already.
func (g *Gate) HandleForwarding(fn func(ctx context.Context, f Forwarded) ([]byte, error)) error {
	return g.root.Service().Map(ForwardingCommand, func(ctx context.Context, command uint32, session uint64, data []byte) ([]byte, error) {
		return fn(ctx, Forwarded{Net: g.caller(ctx), Command: command, Session: session, Data: data})
	})
}

// OnSessionLost maps SessionLostCommand on the root's service to fn, told
// of every session a front-end lost.
func (g *Gate) OnSessionLost(fn func(ctx context.Context, net string, session uint64)) error {
	return g.root.Service().Map(SessionLostCommand, func(ctx context.Context, session uint64) {
		fn(ctx, g.caller(ctx), session)
	})
}

// caller returns the name of the child whose call ctx belongs to.
func (g *Gate) caller(ctx context.Context) string {
	conn, ok := rpc.ConnFromContext(ctx)
	if !ok {
		return ""
	}
	if names := g.names.Load(); names != nil {
		if name, ok := (*names)[conn]; ok {
			if c := g.root.Child(name); c != nil && c.Conn() == conn {
				return name
			}
		}
	}
	// A child unknown to the map, or one that came back on another
	// connection: the map is made again from the children there are now.
	kids := g.root.Children()
	names := make(map[*rpc.Conn]string, len(kids))
	for _, c := range kids {
		names[c.Conn()] = c.Name()
	}
	g.names.Store(&names)
	return names[conn]
}

// Push pushes data with command topic to sessions of front-end net
// (Firefly's pushObject through net's pushData), without waiting for it.
func (g *Gate) Push(ctx context.Context, net string, topic uint32, data []byte, sessions ...uint64) error {
	if sessions == nil {
		sessions = []uint64{}
	}
	return g.root.SendChild(ctx, net, PushDataCommand, topic, data, sessions)
}

// Broadcast pushes data with command topic to every session of front-end
// net, without waiting for it.
func (g *Gate) Broadcast(ctx context.Context, net string, topic uint32, data []byte) error {
	return g.root.SendChild(ctx, net, BroadcastDataCommand, topic, data)
}

// CloseSession closes session of front-end net once its queued packets are
// written, and reports whether it was open.
func (g *Gate) CloseSession(ctx context.Context, net string, session uint64) (bool, error) {
	var open bool
	err := g.root.CallChild(ctx, net, CloseSessionCommand, &open, session)
	return open, err
}

// Stats returns the counters of front-end net (its Server.Stats).
func (g *Gate) Stats(ctx context.Context, net string) (Stats, error) {
	var st Stats
	err := g.root.CallChild(ctx, net, StatsCommand, &st)
	return st, err
}
