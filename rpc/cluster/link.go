package cluster

import (
	"context"
	"net"
	"strconv"
	"sync"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
	"github.com/fireflyrpc/firefly/rpc/pb"
)

// link is the server's membership of one root: the node joined to it,
// replaced each time the master says where the root is.
type link struct {
	s    *Server
	root string
	port int
	dns  string // where the root is found; "": the master says
	pb   bool   // the root speaks the PB wire
	svc  *distributed.Service

	mu      sync.Mutex
	node    *distributed.Node // joined at least once; nil while dialling
	addr    string
	gen     uint64
	dialing bool
	cancel  context.CancelFunc // ends the current generation's dialling
	changed chan struct{}      // closed and replaced when node changes
	closed  bool
}

// current returns the node and a channel closed when it changes.
func (l *link) current() (*distributed.Node, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.node, l.changed
}

func (l *link) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// setNode installs n (nil: none). l.mu is held.
func (l *link) setNode(n *distributed.Node) {
	l.node = n
	close(l.changed)
	l.changed = make(chan struct{})
}

// connect joins the root at host (see join).
func (l *link) connect(host string) { l.join(net.JoinHostPort(host, strconv.Itoa(l.port))) }

// dnsAddr is the address a DNS link's node is given (and its resolver
// looks up): the SRV name, or the host name with the root's port.
func (l *link) dnsAddr() string {
	if isSRV(l.dns) {
		return l.dns
	}
	return net.JoinHostPort(l.dns, strconv.Itoa(l.port))
}

// join joins the root at addr, unless the link is joined, or joining,
// there already: the old node is closed and a new one dials until it is in.
func (l *link) join(addr string) {
	l.mu.Lock()
	s := l.s
	s.mu.Lock()
	runCtx := s.ctx
	s.mu.Unlock()
	if l.closed || runCtx == nil {
		l.mu.Unlock()
		return
	}
	if l.addr == addr && (l.dialing || l.node != nil && l.node.Connected()) {
		l.mu.Unlock()
		return
	}
	old, oldCancel := l.node, l.cancel
	l.gen++
	gen := l.gen
	l.addr = addr
	l.dialing = true
	ctx, cancel := context.WithCancel(runCtx)
	l.cancel = cancel
	if old != nil {
		l.setNode(nil)
	}
	l.mu.Unlock()
	if oldCancel != nil {
		oldCancel()
	}
	go func() {
		if old != nil {
			old.Close()
		}
		l.dial(ctx, gen, addr)
	}()
}

// dial joins a new node to addr (Node.Join), until it is in or ctx ends
// (the link was told another address, or closed).
func (l *link) dial(ctx context.Context, gen uint64, addr string) {
	s := l.s
	opts := []distributed.Option{
		distributed.WithIncarnation(s.inc),
		distributed.WithService(l.svc),
		distributed.WithLogger(s.log),
		distributed.WithWaitForReconnect(true),
		distributed.WithReconnectBackoff(s.opts.base, s.opts.max),
	}
	service := ""
	if l.dns != "" {
		service = srvService(l.dns)
		opts = append(opts, distributed.WithResolver(func(ctx context.Context, _ string) ([]string, error) {
			return resolveAddrs(ctx, s.opts.resolver, l.dns, l.port)
		}))
	}
	if l.pb {
		opts = append(opts, distributed.WithDialer(pb.NodeDialer(pb.WithLogger(s.log))))
	} else {
		opts = append(opts, distributed.WithDialOptions(s.sec.dial(l.root, service)...))
	}
	n := distributed.NewNode(s.Name(), opts...)
	n.OnConnect(func(*rpc.Conn) {
		s.log.Info("cluster: joined root", "root", l.root, "addr", addr, "at", remoteAddr(n.Link()), "pb", l.pb)
	})
	if err := n.Join(ctx, addr); err != nil {
		s.log.Debug("cluster: stopped joining root", "root", l.root, "addr", addr, "err", err)
		n.Close()
		return
	}
	l.mu.Lock()
	if l.closed || l.gen != gen {
		l.mu.Unlock()
		n.Close()
		return
	}
	l.dialing = false
	l.setNode(n)
	l.mu.Unlock()
}

// remoteAddr is link's peer address, or "" for none.
func remoteAddr(link distributed.Link) string {
	if link == nil {
		return ""
	}
	return link.RemoteAddr().String()
}

// close closes the node and stops dialling.
func (l *link) close() {
	l.mu.Lock()
	l.closed = true
	n, cancel := l.node, l.cancel
	if n != nil {
		l.setNode(nil)
	} else {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	l.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if n != nil {
		n.Close()
	}
}
