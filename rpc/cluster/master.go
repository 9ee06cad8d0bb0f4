package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
	"github.com/fireflyrpc/firefly/rpc/pb"
)

// The commands the master calls on each server's master link (the names
// Firefly used).
const (
	// CmdRemoteConnect is remote_connect(rootname, host string): join the
	// root called rootname at host, on the port the config gives.
	CmdRemoteConnect = "remote_connect"
	// CmdStop is serverStop(): run the stop hook, then exit.
	CmdStop = "serverStop"
	// CmdReload is sreload(): run the reload hook.
	CmdReload = "sreload"
)

// ErrMasterClosed reports an admin command on a master that is closed or
// stopping.
var ErrMasterClosed = errors.New("cluster: master closed")

// Master is Firefly's master: a root every server of the cluster joins as a
// node, under its name in the config. It keeps the remote map (each joined
// server's host as the master saw it, and the roots it wants) and tells the
// servers whom to join:
//
//   - when a server joins, every joined server that wants it as a root is
//     told to join it (remote_connect) at the host the master saw the new
//     server at, and the new server is told to join each of its roots that
//     joined already, at that root's host;
//   - when a server leaves, it is forgotten;
//   - a restarted master starts empty and rebuilds the map as the servers,
//     which reconnect by themselves, join again.
//
// Each server's orders are sent one at a time, in the order of the events
// that made them, and independently of other servers' orders: a server that
// does not answer (each call waits up to WithCallTimeout) delays only its
// own.
//
// A root seen over loopback runs on the master's machine; a server on
// another machine is told the master's own address on its connection
// instead.
//
// The admin commands (StopAll, ReloadAll) reach every joined server; Handler
// serves them over HTTP as Firefly's web endpoints /stop and /reloadmodule.
//
// A master whose config says "wire": "pb" serves its root on the PB wire
// (pb.FireflyRoot), where Python Firefly servers register as they do with
// Firefly's master; the orders, the admin commands and the remote map are
// the same on either wire.
type Master struct {
	cfg    *Config
	root   *distributed.Root
	pbRoot *pb.Server // serves root on the PB wire ("wire": "pb"); else nil
	log    *slog.Logger
	opts   options

	adminToken []byte // required by the admin POSTs; nil: none

	mu       sync.Mutex
	rm       remoteMap
	left     chan struct{} // closed and replaced when a server leaves
	stopping bool
	queues   map[string]*orderQueue // each server's orders not yet sent

	life    context.Context // ends with Close: cuts the orders short
	cancel  context.CancelFunc
	senders sync.WaitGroup // the queues' goroutines

	done     chan struct{} // closed once StopAll has asked the master to exit
	doneOnce sync.Once
}

// NewMaster returns a master for cfg; call Serve or Run to accept servers.
func NewMaster(cfg *Config, opts ...Option) (*Master, error) {
	if cfg == nil || cfg.Master == nil {
		return nil, &ConfigError{Problems: []error{&problem{ErrNoMaster, `no "master" section`}}}
	}
	o := newOptions(opts)
	sec, err := cfg.links(masterIdentity)
	if err != nil {
		return nil, err
	}
	token, err := cfg.AdminToken()
	if err != nil && cfg.AdminAddr() != "" {
		return nil, err
	}
	ropts := []distributed.Option{distributed.WithLogger(o.logger), distributed.WithService(distributed.NewService("master"))}
	if sec != nil {
		ropts = append(ropts, distributed.WithServerOptions(sec.serve...))
		ropts = append(ropts, sec.roots...)
	}
	root, err := distributed.NewRoot(ropts...)
	if err != nil {
		return nil, err
	}
	m := &Master{cfg: cfg, root: root, log: o.logger, opts: o, left: make(chan struct{}), done: make(chan struct{}), queues: make(map[string]*orderQueue)}
	if cfg.MasterPB() {
		if m.pbRoot, err = pb.NewServer(pb.FireflyRoot(root), pb.WithLogger(o.logger)); err != nil {
			root.Close()
			return nil, err
		}
	}
	m.adminToken = token
	m.life, m.cancel = context.WithCancel(context.Background())
	root.OnChildConnect(m.joined)
	root.OnChildLost(m.lost)
	return m, nil
}

// Root returns the master's root; its service is what servers' master
// links call.
func (m *Master) Root() *distributed.Root { return m.root }

// joined runs when a server joins: it records it and sends the orders.
func (m *Master) joined(c *distributed.Child) {
	name := c.Name()
	if _, ok := m.cfg.Servers[name]; !ok {
		m.log.Warn("cluster: a server that the config does not have joined", "server", name)
	}
	remote, local := childAddrs(c)
	e := &remoteEntry{
		Remote: Remote{Host: hostOf(remote), Roots: m.cfg.Roots(name)},
		id:     c.ID(),
		via:    hostOf(local),
	}
	m.mu.Lock()
	orders := m.rm.join(name, e)
	for _, o := range orders {
		m.queue(o.server).push(o)
	}
	m.mu.Unlock()
	m.log.Info("cluster: server joined", "server", name, "host", e.Host, "roots", e.Roots)
}

// queue returns the order queue of server, made on first use. m.mu is held.
func (m *Master) queue(server string) *orderQueue {
	q := m.queues[server]
	if q == nil {
		q = &orderQueue{m: m}
		m.queues[server] = q
	}
	return q
}

// send makes the remote_connect call of o.
func (m *Master) send(o order) {
	ctx, cancel := context.WithTimeout(m.life, m.opts.callTimeout)
	err := m.root.CallChild(ctx, o.server, CmdRemoteConnect, nil, o.root, o.host)
	cancel()
	if err != nil {
		m.log.Warn("cluster: remote_connect failed", "server", o.server, "root", o.root, "host", o.host, "err", err)
		return
	}
	m.log.Info("cluster: told a server to join a root", "server", o.server, "root", o.root, "host", o.host)
}

// orderQueue sends one server's orders one at a time, in the order they
// were made, on a goroutine that exists while the queue is not empty; each
// server has its own, so a server that does not answer delays only its own
// orders.
type orderQueue struct {
	m       *Master
	q       []order // guarded by m.mu
	running bool    // guarded by m.mu
}

// push queues o. m.mu is held.
func (q *orderQueue) push(o order) {
	q.q = append(q.q, o)
	if !q.running {
		q.running = true
		q.m.senders.Add(1)
		go q.run()
	}
}

func (q *orderQueue) run() {
	m := q.m
	defer m.senders.Done()
	m.mu.Lock()
	for len(q.q) > 0 {
		o := q.q[0]
		q.q = q.q[1:]
		m.mu.Unlock()
		m.send(o)
		m.mu.Lock()
	}
	q.running = false
	m.mu.Unlock()
}

// lost runs when a server leaves.
func (m *Master) lost(c *distributed.Child) {
	m.mu.Lock()
	forgot := m.rm.leave(c.Name(), c.ID())
	close(m.left)
	m.left = make(chan struct{})
	m.mu.Unlock()
	if forgot {
		m.log.Info("cluster: server left", "server", c.Name())
	}
}

// childAddrs returns the two ends of c's connection, whichever wire it
// came over: its Conn on the firefly wire; on the PB wire, its proxy's
// (nil when the proxy does not tell).
func childAddrs(c *distributed.Child) (remote, local net.Addr) {
	if conn := c.Conn(); conn != nil {
		return conn.RemoteAddr(), conn.LocalAddr()
	}
	if a, ok := c.Ref().Remote().(interface {
		RemoteAddr() net.Addr
		LocalAddr() net.Addr
	}); ok {
		return a.RemoteAddr(), a.LocalAddr()
	}
	return nil, nil
}

// hostOf returns the IP of a TCP address (the whole address otherwise).
func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	if a == nil {
		return ""
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

// RemoteMap returns a copy of the remote map: each joined server by name.
func (m *Master) RemoteMap() map[string]Remote {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rm.snapshot()
}

// Serve accepts servers on ln until ln fails or the master is closed, on
// the master's wire.
func (m *Master) Serve(ln net.Listener) error {
	if m.pbRoot != nil {
		return m.pbRoot.Serve(ln)
	}
	return m.root.Serve(ln)
}

// Run listens on the master's rootport (every interface) and, if the config
// has a webport, serves Handler on webhost:webport. It returns nil once ctx
// ends or an admin stop has completed (the master is then closed), or the
// error of a listener.
func (m *Master) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(m.cfg.Master.RootPort))
	if err != nil {
		m.Close()
		return fmt.Errorf("cluster: master: %w", err)
	}
	errc := make(chan error, 2)
	go func() { errc <- m.Serve(ln) }()
	var web *http.Server
	if addr := m.cfg.AdminAddr(); addr != "" {
		wln, err := net.Listen("tcp", addr)
		if err != nil {
			m.Close()
			return fmt.Errorf("cluster: master admin: %w", err)
		}
		web = &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- web.Serve(wln) }()
		m.log.Info("cluster: master admin listening", "addr", wln.Addr())
	}
	m.log.Info("cluster: master listening", "addr", ln.Addr(), "pb", m.pbRoot != nil)
	select {
	case <-ctx.Done():
		err = nil
	case <-m.done:
		err = nil
	case err = <-errc:
		err = fmt.Errorf("cluster: master: %w", err)
	}
	if web != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		web.Shutdown(sctx) // lets the /stop answer go out
		cancel()
	}
	m.Close()
	return err
}

// Done returns a channel closed once StopAll has stopped the servers and
// asked the master to exit.
func (m *Master) Done() <-chan struct{} { return m.done }

// Close closes the master's root: every server's connection ends (servers
// reconnect to a new master by themselves). Orders not yet answered are
// given up; Close returns once their calls have returned.
func (m *Master) Close() error {
	m.cancel()
	if m.pbRoot != nil {
		m.pbRoot.Close()
	}
	err := m.root.Close()
	m.senders.Wait()
	return err
}

// AdminResult reports an admin command: the servers it reached and the
// error of each one it failed on.
type AdminResult struct {
	// Servers lists the servers the command was sent to, sorted.
	Servers []string `json:"servers"`
	// Errors holds each failed server's error text by name.
	Errors map[string]string `json:"errors,omitempty"`
}

// broadcast runs command on every joined server and collects the result.
func (m *Master) broadcast(ctx context.Context, command string) (*AdminResult, error) {
	res := &AdminResult{}
	for _, c := range m.root.Children() {
		res.Servers = append(res.Servers, c.Name())
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.callTimeout)
	defer cancel()
	err := m.root.Broadcast(ctx, command)
	var be *distributed.BroadcastError
	if errors.As(err, &be) {
		for name, e := range be.Errs {
			// A server exiting may close its connection before
			// serverStop's answer is out: it did stop.
			if command == CmdStop && errors.Is(e, rpc.ErrConnectionLost) {
				continue
			}
			if res.Errors == nil {
				res.Errors = make(map[string]string)
			}
			res.Errors[name] = e.Error()
		}
	} else if err != nil {
		return res, err
	}
	if len(res.Errors) > 0 {
		return res, fmt.Errorf("cluster: %s failed on %d of %d servers", command, len(res.Errors), len(res.Servers))
	}
	return res, nil
}

// StopAll tells every joined server to stop (each runs its stop hook, then
// exits), waits up to a few seconds for them to leave, and then asks the
// master to exit: Run returns and Done is closed.
func (m *Master) StopAll(ctx context.Context) (*AdminResult, error) {
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		return nil, ErrMasterClosed
	}
	m.stopping = true
	m.mu.Unlock()
	m.log.Info("cluster: stopping every server")
	res, err := m.broadcast(ctx, CmdStop)
	wctx, cancel := context.WithTimeout(ctx, m.opts.stopWait)
	defer cancel()
wait:
	for {
		m.mu.Lock()
		n, left := len(m.rm.m), m.left
		m.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-left:
		case <-wctx.Done():
			break wait
		}
	}
	m.doneOnce.Do(func() { close(m.done) })
	return res, err
}

// ReloadAll tells every joined server to run its reload hook (Firefly's
// reloadmodule).
func (m *Master) ReloadAll(ctx context.Context) (*AdminResult, error) {
	m.log.Info("cluster: reloading every server")
	return m.broadcast(ctx, CmdReload)
}
