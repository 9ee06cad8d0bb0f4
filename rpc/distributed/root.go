package distributed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

var (
	// ErrNoSuchChild reports a call to a child name or id that no connected
	// node has (Firefly logged it and returned None).
	ErrNoSuchChild = errors.New("distributed: no such child")
	// ErrNameTaken reports a takeProxy refused because another live node,
	// of another incarnation, holds the name. It is rpc.ErrNameTaken, so it
	// keeps matching errors.Is on the node's side.
	ErrNameTaken = rpc.ErrNameTaken
	// ErrIdentityMismatch reports a takeProxy refused by a root that
	// requires proved names (WithProvedNames): the connection did not prove
	// the identity the node named itself with. It is rpc.ErrIdentityMismatch,
	// so it keeps matching errors.Is on the node's side.
	ErrIdentityMismatch = rpc.ErrIdentityMismatch
)

// DefaultLivenessTimeout bounds the root's check that the node holding a
// name is alive when another incarnation asks for that name.
const DefaultLivenessTimeout = 2 * time.Second

// Root is the server side of Firefly's distributed layer (PBRoot with its
// ChildsManager). Nodes connect to it and hand it their ProxyReference with
// the "takeProxy" handshake; each becomes a Child, which the root calls
// (CallChild, SendChild, Broadcast) and which calls the root's Service through
// the reference the handshake returns (Node.CallRemote: Firefly's
// remote_callTarget).
//
// A name belongs to one live node at a time. Each Node has an incarnation,
// a random id it keeps for its life and sends with takeProxy. A node that
// connects under a name already registered replaces the child registered
// there when it is the same incarnation (the node reconnecting before the
// root noticed its old connection end), or when the old child's connection
// is dead: closed, or not answering a ping within the liveness timeout
// (WithLivenessTimeout). The old child's connection is then closed, and the
// lost hook runs for the old child before the connect hook runs for the new
// one. (Firefly raised instead, leaving the node half-registered.) A node of
// another incarnation whose name a live child holds is refused with an error
// matching ErrNameTaken, logged at Warn with both addresses, and the holder
// keeps its place. A child whose connection ends is removed, and the lost
// hook runs; the late end of a replaced child's connection removes nothing.
//
// Hooks run one at a time, in the order of the events, on a goroutine of
// the root's, so they may call the root's methods (but not Close). For each
// child the connect hook runs before the lost hook.
type Root struct {
	svc      *Service
	srv      *rpc.Server
	children ChildManager
	log      *slog.Logger
	ids      atomic.Uint64

	liveness    time.Duration
	provedNames bool
	identity    func(rpc.Peer) string

	mu        sync.Mutex // orders registrations and removals with their events
	closed    bool
	onConnect func(*Child)
	onLost    func(*Child)

	hooks hookQueue
}

// NewRoot returns a root with its own Server; call Serve to accept nodes.
// An error comes from NewServer (a registry from WithServerOptions that
// refuses references, for example).
func NewRoot(opts ...Option) (*Root, error) {
	cfg := newConfig(opts)
	if cfg.svc == nil {
		cfg.svc = NewService("root")
	}
	r := &Root{svc: cfg.svc, log: cfg.logger, liveness: cfg.liveness, provedNames: cfg.provedNames, identity: cfg.identity}
	if r.identity == nil {
		r.identity = func(p rpc.Peer) string {
			if !p.Verified {
				return ""
			}
			return p.Identity
		}
	}
	r.hooks.init()
	srv, err := rpc.NewServer(&rootObject{r: r}, cfg.serverOpts...)
	if err != nil {
		return nil, err
	}
	r.srv = srv
	return r, nil
}

// maxIncarnationLen bounds the incarnation id a node sends with takeProxy.
const maxIncarnationLen = 255

// rootObject is the root object nodes see through Conn.Root.
type rootObject struct{ r *Root }

// RemoteTakeProxy registers the calling node as the child name whose calls go
// to proxy, and returns the root's service by reference (Firefly's
// remote_takeProxy). It is the "takeProxy" call of Node's handshake;
// incarnation, the node's incarnation id, is optional (a caller that sends
// none is a new incarnation each time). See Root for who gets a name that is
// taken.
func (o *rootObject) RemoteTakeProxy(ctx context.Context, name string, proxy *rpc.Ref, incarnation ...string) (*Service, error) {
	inc := ""
	switch {
	case len(incarnation) > 1:
		return nil, rpc.Expected(fmt.Errorf("%w: takeProxy takes at most one incarnation", rpc.ErrBadArguments))
	case len(incarnation) == 1:
		inc = incarnation[0]
	}
	if len(inc) > maxIncarnationLen {
		return nil, rpc.Expected(fmt.Errorf("%w: takeProxy: an incarnation of %d bytes, over %d", rpc.ErrBadArguments, len(inc), maxIncarnationLen))
	}
	return o.r.takeProxy(ctx, name, proxy, inc)
}

// TakeProxy registers a node that joined over another wire (package rpc/pb
// serves Python Firefly nodes through it) as the child name whose calls go
// to proxy, exactly as the "takeProxy" handshake does, and returns the root's
// service. The child is lost when proxy's connection is; when it is dropped
// or replaced, a proxy whose Remote implements io.Closer is closed. Such a
// node has no incarnation and proves no identity: a root that requires
// proved names refuses it, and a live child holding the name is kept.
func (r *Root) TakeProxy(ctx context.Context, name string, proxy *rpc.Ref) (*Service, error) {
	return r.takeProxy(ctx, name, proxy, "")
}

func (r *Root) takeProxy(ctx context.Context, name string, proxy *rpc.Ref, inc string) (*Service, error) {
	if name == "" || proxy == nil {
		return nil, rpc.Expected(fmt.Errorf("%w: takeProxy needs a node name and its proxy reference", rpc.ErrBadArguments))
	}
	conn := proxy.Conn() // nil for a proxy on another wire
	if err := r.checkIdentity(conn, name); err != nil {
		return nil, err
	}
	c := NewChild(r.ids.Add(1), name, proxy)
	c.incarnation = inc
	var dead *Child // a holder of the name found dead by a ping
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, rpc.ErrShutdown
		}
		holder := r.children.Get(name)
		if holder == nil || holder == dead || !r.contested(holder, conn, inc) {
			break
		}
		r.mu.Unlock()
		if r.alive(ctx, holder) {
			err := fmt.Errorf("%w: %q is held by a live node at %s (child %d); refused the node at %s",
				ErrNameTaken, name, remoteOf(holder.conn), holder.id, remoteOf(conn))
			r.log.Warn("distributed: node name taken; refused a second live node", "name", name,
				"holder", remoteOf(holder.conn), "refused", remoteOf(conn), "child", holder.id)
			return nil, rpc.Expected(err)
		}
		dead = holder
	}
	old := r.children.Add(c)
	if old != nil {
		old.stopNotify()
		r.emit(r.onLost, old)
	}
	c.stopNotify = proxy.NotifyOnDisconnect(func(err error) { r.lose(c, err) })
	r.emit(r.onConnect, c)
	r.mu.Unlock()
	if old != nil {
		why := "same incarnation"
		switch {
		case old == dead:
			why = "the old child did not answer"
		case old.conn == conn:
			why = "same connection"
		case old.conn == nil:
			why = "the old child is on another wire"
		case old.conn.Err() != nil:
			why = "the old child's connection ended"
		}
		r.log.Info("distributed: child replaced", "name", name, "old", old.id, "new", c.id, "why", why,
			"old_remote", remoteOf(old.conn), "remote", remoteOf(conn))
		if old.conn == nil || old.conn != conn {
			old.close()
		}
	} else {
		r.log.Info("distributed: child connected", "name", name, "id", c.id, "proxy", proxy)
	}
	return r.svc, nil
}

// checkIdentity refuses name when the root requires proved names and conn
// did not prove it.
func (r *Root) checkIdentity(conn *rpc.Conn, name string) error {
	if !r.provedNames {
		return nil
	}
	if conn == nil {
		r.log.Warn("distributed: node refused: a node on another wire proves no name", "name", name)
		return rpc.Expected(fmt.Errorf("%w: the node %q joined over a wire that proves no identity", ErrIdentityMismatch, name))
	}
	proved := r.identity(conn.Peer())
	if proved == name {
		return nil
	}
	r.log.Warn("distributed: node refused: its name is not the identity it proved", "name", name, "proved", proved, "remote", conn.RemoteAddr())
	return rpc.Expected(fmt.Errorf("%w: the node at %s named itself %q but proved %q", ErrIdentityMismatch, conn.RemoteAddr(), name, proved))
}

// contested reports whether holder's name must be defended against a node
// of incarnation inc on conn: holder is another incarnation, on another
// connection that has not ended. r.mu is held.
func (r *Root) contested(holder *Child, conn *rpc.Conn, inc string) bool {
	if holder.conn == nil {
		// A child on another wire: its liveness cannot be asked, so a
		// newcomer replaces it, as Firefly replaces a stale child.
		return false
	}
	if holder.conn == conn || holder.conn.Err() != nil {
		return false
	}
	return inc == "" || holder.incarnation != inc
}

// remoteOf names conn's peer address for logs and errors.
func remoteOf(conn *rpc.Conn) string {
	if conn == nil {
		return "(another wire)"
	}
	return conn.RemoteAddr().String()
}

// alive reports whether c's connection answers a ping within the liveness
// timeout (and ctx).
func (r *Root) alive(ctx context.Context, c *Child) bool {
	ctx, cancel := context.WithTimeout(ctx, r.liveness)
	defer cancel()
	_, err := c.conn.Ping(ctx)
	return err == nil
}

// lose removes c after its connection ended, unless it was replaced or
// dropped already.
func (r *Root) lose(c *Child, err error) {
	r.mu.Lock()
	removed := r.children.Remove(c)
	if removed {
		r.emit(r.onLost, c)
	}
	r.mu.Unlock()
	if removed {
		r.log.Info("distributed: child lost", "name", c.name, "id", c.id, "reason", err)
	}
}

// emit queues hook f (if any) for c. r.mu is held, so events queue in the
// order of the changes they report.
func (r *Root) emit(f func(*Child), c *Child) {
	if f != nil {
		r.hooks.push(func() { f(c) })
	}
}

// Service returns the root's service.
func (r *Root) Service() *Service { return r.svc }

// Server returns the root's underlying server.
func (r *Root) Server() *rpc.Server { return r.srv }

// Stats are a Root's counters: its server's (rpc.Stats, whose fields the
// JSON holds at the top level) and the number of children connected.
type Stats struct {
	rpc.Stats
	Children int // children connected now
}

// Stats returns the root's counters: its server's (rpc.Server.Stats) and its
// children.
func (r *Root) Stats() Stats {
	return Stats{Stats: r.srv.Stats(), Children: r.children.Len()}
}

// Serve accepts nodes on ln until ln fails or the root is closed (then it
// returns ErrServerClosed). It may be called for several listeners.
func (r *Root) Serve(ln net.Listener) error { return r.srv.Serve(ln) }

// Close stops the listeners, closes every connection, removes every child
// with its lost hook, and returns once all queued hooks have run. It must
// not be called from a hook. A closed root cannot serve again; a new Root
// may serve on the same address, and nodes reconnect to it by themselves.
func (r *Root) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	err := r.srv.Close()
	r.mu.Lock()
	for _, c := range r.children.List() {
		if r.children.Remove(c) {
			c.stopNotify()
			r.emit(r.onLost, c)
		}
	}
	r.mu.Unlock()
	r.hooks.wait()
	return err
}

// OnChildConnect sets the hook run for each child that connects (Firefly's
// doChildConnect); nil removes it. It affects events after the call.
func (r *Root) OnChildConnect(f func(*Child)) {
	r.mu.Lock()
	r.onConnect = f
	r.mu.Unlock()
}

// OnChildLost sets the hook run for each child that leaves: its connection
// ended, it was dropped, or it was replaced by a node of the same name
// (Firefly's doChildLostConnect); nil removes it.
func (r *Root) OnChildLost(f func(*Child)) {
	r.mu.Lock()
	r.onLost = f
	r.mu.Unlock()
}

// Child returns the child called name, or nil.
func (r *Root) Child(name string) *Child { return r.children.Get(name) }

// ChildByID returns the child with id, or nil.
func (r *Root) ChildByID(id uint64) *Child { return r.children.GetByID(id) }

// Children returns the connected children sorted by name.
func (r *Root) Children() []*Child { return r.children.List() }

// DropChild removes the child called name, runs its lost hook and closes its
// connection (Firefly's dropChild). It reports whether there was such a
// child. A Node reconnects by itself after a while and comes back as a new
// child.
func (r *Root) DropChild(name string) bool { return r.drop(r.children.Get(name)) }

// DropChildByID is DropChild by id.
func (r *Root) DropChildByID(id uint64) bool { return r.drop(r.children.GetByID(id)) }

func (r *Root) drop(c *Child) bool {
	if c == nil {
		return false
	}
	r.mu.Lock()
	removed := r.children.Remove(c)
	if removed {
		c.stopNotify()
		r.emit(r.onLost, c)
	}
	r.mu.Unlock()
	if removed {
		r.log.Info("distributed: child dropped", "name", c.name, "id", c.id)
		c.close()
	}
	return removed
}

// child returns the child called name or an error matching ErrNoSuchChild.
func (r *Root) child(name string) (*Child, error) {
	if c := r.children.Get(name); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrNoSuchChild, name)
}

// CallChild runs command (a name or an int id) on the service of the child
// called name and stores the result in reply (Firefly's callChildByName). A
// missing child is an error matching ErrNoSuchChild.
func (r *Root) CallChild(ctx context.Context, name string, command any, reply any, args ...any) error {
	c, err := r.child(name)
	if err != nil {
		return err
	}
	return c.Call(ctx, command, reply, args...)
}

// SendChild runs command on the child called name without waiting for an
// answer. A missing child is an error matching ErrNoSuchChild.
func (r *Root) SendChild(ctx context.Context, name string, command any, args ...any) error {
	c, err := r.child(name)
	if err != nil {
		return err
	}
	return c.Send(ctx, command, args...)
}

// Broadcast runs command on every child, concurrently, waits for all the
// answers (results are discarded) and returns nil or a *BroadcastError with
// each failed child's error.
func (r *Root) Broadcast(ctx context.Context, command any, args ...any) error {
	return r.BroadcastFunc(ctx, nil, command, args...)
}

// BroadcastFunc is Broadcast to the children for which filter returns true
// (all of them when filter is nil).
func (r *Root) BroadcastFunc(ctx context.Context, filter func(*Child) bool, command any, args ...any) error {
	name, err := commandName(command)
	if err != nil {
		return err
	}
	kids := r.children.List()
	if filter != nil {
		kids = slices.DeleteFunc(kids, func(c *Child) bool { return !filter(c) })
	}
	done := make(chan *rpc.Call, len(kids))
	calls := make([]*rpc.Call, len(kids))
	for i, c := range kids {
		calls[i] = c.ref.Go(ctx, name, nil, done, args...)
	}
	for range kids {
		<-done
	}
	var be *BroadcastError
	for i, call := range calls {
		if call.Error != nil {
			if be == nil {
				be = &BroadcastError{Errs: make(map[string]error)}
			}
			be.Errs[kids[i].name] = call.Error
		}
	}
	if be == nil {
		return nil
	}
	return be
}

// BroadcastError reports the children a broadcast failed on.
type BroadcastError struct {
	// Errs holds each failed child's error by the child's name.
	Errs map[string]error
}

// Error lists the failed children and their errors, by name.
func (e *BroadcastError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "distributed: broadcast failed on %d children", len(e.Errs))
	for i, name := range e.names() {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %v", name, e.Errs[name])
	}
	return b.String()
}

// Unwrap returns the children's errors, so errors.Is and errors.As look
// into them.
func (e *BroadcastError) Unwrap() []error {
	errs := make([]error, 0, len(e.Errs))
	for _, name := range e.names() {
		errs = append(errs, e.Errs[name])
	}
	return errs
}

func (e *BroadcastError) names() []string {
	names := make([]string, 0, len(e.Errs))
	for name := range e.Errs {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// hookQueue runs queued functions one at a time, in order, on a goroutine
// that exists only while the queue is not empty.
type hookQueue struct {
	mu      sync.Mutex
	idle    *sync.Cond
	q       []func()
	running bool
}

func (h *hookQueue) init() { h.idle = sync.NewCond(&h.mu) }

func (h *hookQueue) push(f func()) {
	h.mu.Lock()
	h.q = append(h.q, f)
	if !h.running {
		h.running = true
		go h.run()
	}
	h.mu.Unlock()
}

func (h *hookQueue) run() {
	h.mu.Lock()
	for len(h.q) > 0 {
		f := h.q[0]
		h.q[0] = nil
		h.q = h.q[1:]
		h.mu.Unlock()
		f()
		h.mu.Lock()
	}
	h.running = false
	h.idle.Broadcast()
	h.mu.Unlock()
}

// wait returns once the queue is empty and nothing runs.
func (h *hookQueue) wait() {
	h.mu.Lock()
	for h.running {
		h.idle.Wait()
	}
	h.mu.Unlock()
}
