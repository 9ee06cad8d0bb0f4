package cluster

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
	"github.com/fireflyrpc/firefly/rpc/pb"
)

var (
	// ErrNoSuchRoot reports a root that the server does not join (it is
	// not in its remoteport).
	ErrNoSuchRoot = errors.New("cluster: not a root of this server")
	// ErrNotJoined reports a call to a root the server has not joined
	// before the call's context ended.
	ErrNotJoined = errors.New("cluster: root not joined")
	// ErrServerStopped reports a call on a server that has stopped.
	ErrServerStopped = errors.New("cluster: server stopped")
)

// An App is a server's application: the Go counterpart of Firefly's "app"
// module. Run calls it once, before the server opens its rootport or joins
// the master, to map the server's targets (on Root().Service() and on
// NodeService(root) for each root) and set its hooks (OnStop, OnReload).
// ctx ends when the server stops; an App may start goroutines that live as
// long as it. An error aborts Run.
type App func(ctx context.Context, s *Server) error

// Apps holds applications by the config's "app" key or by server name, so
// that servers running the same code (game1, game2) can share one entry.
//
// The "app" key wins: a server whose config has one runs the app registered
// under that name, and a name that no app is registered under is a config
// error (Check), never a fallback to the server's name. Only a server
// without an "app" key runs the app registered under its own name, if any,
// or none.
type Apps map[string]App

// For returns the application of server sc: the one registered under its
// "app" key when it has one, else the one under its name; nil when there
// is none (see Check).
func (a Apps) For(sc *ServerConfig) App {
	if sc.App != "" {
		return a[sc.App]
	}
	return a[sc.Name]
}

// Check returns a *ConfigError with a problem matching ErrUnknownApp for
// each server of cfg whose "app" key names no registered app, or nil.
func (a Apps) Check(cfg *Config) error {
	var problems []error
	for _, name := range cfg.ServerNames() {
		sc := cfg.Servers[name]
		if sc.App == "" || a[sc.App] != nil {
			continue
		}
		problems = append(problems, &problem{ErrUnknownApp,
			fmt.Sprintf("server %q: app %q: no such app (this binary has: %s)", name, sc.App, strings.Join(sortedKeys(a), ", "))})
	}
	if len(problems) == 0 {
		return nil
	}
	return &ConfigError{Problems: problems}
}

// Server is one server of a cluster (Firefly's FFServer): from the config
// and its name it runs
//
//   - its root, if it has a rootport, which the servers listing it in their
//     remoteport join;
//   - a node per remoteport entry, joined to that root when the master says
//     where the root is (remote_connect), and joined again whenever the
//     master says so (the root restarted, or moved);
//   - its master link, a node joined to the master under the server's name
//     on the master's wire (over PB when the master section says "wire":
//     "pb"), which reconnects by itself to a restarted master and so
//     registers again.
//
// The master's serverStop runs the stop hook and ends Run; its sreload runs
// the reload hook.
type Server struct {
	cfg  *Config
	sc   *ServerConfig
	app  App
	opts options
	log  *slog.Logger

	inc       string            // the incarnation of every node the server makes
	root      *distributed.Root // nil without a rootport
	pbRoot    *pb.Server        // serves root on the PB wire ("wire": "pb"); else nil
	sec       *links            // the security of its links; nil: none
	links     map[string]*link
	masterSvc *distributed.Service
	master    *distributed.Node

	stopc    chan struct{}
	stopOnce sync.Once
	hookOnce sync.Once

	mu       sync.Mutex
	ctx      context.Context // Run's; nil before Run
	running  bool
	started  time.Time // when Run began
	mapped   bool      // the App ran without error
	rootAddr net.Addr  // where the root listens; nil: not (yet)
	onStop   func(context.Context)
	onReload func(context.Context) error
}

// NewServer returns the server called name of cfg, running app (which may
// be nil: a server without code of its own).
func NewServer(cfg *Config, name string, app App, opts ...Option) (*Server, error) {
	if cfg == nil || cfg.Master == nil {
		return nil, &ConfigError{Problems: []error{&problem{ErrNoMaster, `no "master" section`}}}
	}
	sc, err := cfg.Server(name)
	if err != nil {
		return nil, err
	}
	o := newOptions(opts)
	s := &Server{
		cfg:       cfg,
		sc:        sc,
		app:       app,
		opts:      o,
		log:       o.logger.With("server", name),
		links:     make(map[string]*link),
		masterSvc: distributed.NewService(name + "@master"),
		stopc:     make(chan struct{}),
	}
	var inc [16]byte
	crand.Read(inc[:])
	s.inc = hex.EncodeToString(inc[:])
	if s.sec, err = cfg.links(name); err != nil {
		return nil, err
	}
	if sc.RootPort != 0 {
		ropts := []distributed.Option{distributed.WithService(distributed.NewService(name)), distributed.WithLogger(s.log)}
		ropts = append(ropts, rootServerOptions(o, s.sec)...)
		s.root, err = distributed.NewRoot(ropts...)
		if err != nil {
			return nil, err
		}
		if sc.Wire == WirePB {
			if s.pbRoot, err = pb.NewServer(pb.FireflyRoot(s.root), pb.WithLogger(s.log)); err != nil {
				return nil, err
			}
		}
	}
	for _, rp := range sc.RemotePort {
		port, _ := cfg.rootPort(sc, rp.RootName)
		s.links[rp.RootName] = &link{
			s:       s,
			root:    rp.RootName,
			port:    port,
			dns:     cfg.RootDNS(sc, rp.RootName),
			pb:      cfg.PB(rp.RootName),
			svc:     distributed.NewService(name + "@" + rp.RootName),
			changed: make(chan struct{}),
		}
	}
	if err := s.mapMasterCommands(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) mapMasterCommands() error {
	return errors.Join(
		s.masterSvc.Map(CmdRemoteConnect, func(ctx context.Context, root, host string) error {
			l := s.links[root]
			if l == nil {
				return rpc.Expected(fmt.Errorf("%w: %q", ErrNoSuchRoot, root))
			}
			if l.dns != "" {
				s.log.Debug("cluster: master says join root; found through DNS instead", "root", root, "host", host, "dns", l.dns)
				return nil
			}
			s.log.Info("cluster: master says join root", "root", root, "host", host)
			l.connect(host)
			return nil
		}),
		s.masterSvc.Map(CmdStop, func(ctx context.Context) {
			s.log.Info("cluster: master says stop")
			s.runStopHook(ctx)
			// Let the answer go out before Run closes the connection.
			time.AfterFunc(100*time.Millisecond, s.Stop)
		}),
		s.masterSvc.Map(CmdStatus, func(ctx context.Context) ServerStatus { return s.Status() }),
		s.masterSvc.Map(CmdReload, func(ctx context.Context) error {
			s.log.Info("cluster: master says reload")
			s.mu.Lock()
			f := s.onReload
			s.mu.Unlock()
			if f == nil {
				return nil
			}
			return f(ctx)
		}),
	)
}

// Name returns the server's name.
func (s *Server) Name() string { return s.sc.Name }

// Config returns the server's entry of the config.
func (s *Server) Config() *ServerConfig { return s.sc }

// Cluster returns the whole config (its Sections hold "db", "memcached",
// ...).
func (s *Server) Cluster() *Config { return s.cfg }

// Root returns the server's root, or nil if it has no rootport. Its
// Service holds the targets the server's nodes call; its CallChild calls
// theirs.
func (s *Server) Root() *distributed.Root { return s.root }

// NodeService returns the service root calls on this server (its node
// joined to root), or nil if root is not in the server's remoteport.
func (s *Server) NodeService(root string) *distributed.Service {
	if l := s.links[root]; l != nil {
		return l.svc
	}
	return nil
}

// Node returns the node currently joined (or rejoining) root, or nil.
func (s *Server) Node(root string) *distributed.Node {
	if l := s.links[root]; l != nil {
		n, _ := l.current()
		return n
	}
	return nil
}

// Master returns the server's master link, or nil before Run.
func (s *Server) Master() *distributed.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.master
}

// OnStop sets the hook run when the master says stop, or Run's context
// ends, before Run returns (Firefly's stophandler). It runs once.
func (s *Server) OnStop(f func(ctx context.Context)) {
	s.mu.Lock()
	s.onStop = f
	s.mu.Unlock()
}

// OnReload sets the hook run when the master says reload (Firefly's
// reload module); its error reaches the admin.
func (s *Server) OnReload(f func(ctx context.Context) error) {
	s.mu.Lock()
	s.onReload = f
	s.mu.Unlock()
}

// CallRemote runs command on the service of root (a root the server joins)
// and stores the result in reply (Firefly's GlobalObject().remote[root]
// .callRemote). Until the master has said where root is, and while the node
// rejoins it, the call waits, until ctx ends (an error matching
// ErrNotJoined or rpc.ErrConnectionLost).
func (s *Server) CallRemote(ctx context.Context, root string, command any, reply any, args ...any) error {
	l := s.links[root]
	if l == nil {
		return fmt.Errorf("%w: %q", ErrNoSuchRoot, root)
	}
	for {
		n, changed := l.current()
		if n == nil {
			if l.isClosed() {
				return ErrServerStopped
			}
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return fmt.Errorf("%w: %q: %w", ErrNotJoined, root, ctx.Err())
			}
		}
		err := n.CallRemote(ctx, command, reply, args...)
		if errors.Is(err, distributed.ErrNodeClosed) && ctx.Err() == nil {
			continue // replaced by a newer node
		}
		return err
	}
}

// Stop makes Run return, after the stop hook. It may be called at any
// time, more than once.
func (s *Server) Stop() { s.stopOnce.Do(func() { close(s.stopc) }) }

func (s *Server) runStopHook(ctx context.Context) {
	s.hookOnce.Do(func() {
		s.mu.Lock()
		f := s.onStop
		s.mu.Unlock()
		if f != nil {
			f(ctx)
		}
	})
}

// Run runs the server: the App, then its root on rootport (every
// interface), then its master link, which it dials at the config's
// MasterAddr until the master answers. It returns nil after the master says
// stop, Stop is called, or ctx ends, having run the stop hook and closed
// everything; or an error from the App or the listener.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return fmt.Errorf("cluster: server %q: Run called twice", s.Name())
	}
	s.running = true
	s.ctx = ctx
	s.started = time.Now()
	s.mu.Unlock()
	defer s.close()

	if s.app != nil {
		if err := s.app(ctx, s); err != nil {
			return fmt.Errorf("cluster: server %q: app: %w", s.Name(), err)
		}
	}
	s.mu.Lock()
	s.mapped = true
	s.mu.Unlock()
	if s.root != nil {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(s.sc.RootPort))
		if err != nil {
			return fmt.Errorf("cluster: server %q: %w", s.Name(), err)
		}
		defer ln.Close() // closed by the server's Close too, unless Serve had not started
		if s.pbRoot != nil {
			go s.pbRoot.Serve(ln)
		} else {
			go s.root.Serve(ln)
		}
		s.mu.Lock()
		s.rootAddr = ln.Addr()
		s.mu.Unlock()
		s.log.Info("cluster: root listening", "addr", ln.Addr(), "pb", s.pbRoot != nil)
	}
	web, err := s.serveWeb()
	if err != nil {
		return err
	}
	if web != nil {
		defer web.Close()
	}
	for _, l := range s.links {
		if l.dns != "" {
			l.join(l.dnsAddr())
		}
	}
	addr := s.cfg.MasterAddr()
	mopts := []distributed.Option{
		distributed.WithIncarnation(s.inc),
		distributed.WithService(s.masterSvc),
		distributed.WithLogger(s.log),
		distributed.WithReconnectBackoff(s.opts.base, s.opts.max),
	}
	service := ""
	if host := s.cfg.Master.RootHost; host != "" && net.ParseIP(host) == nil {
		service = srvService(host)
		mopts = append(mopts, distributed.WithResolver(func(ctx context.Context, _ string) ([]string, error) {
			return resolveAddrs(ctx, s.opts.resolver, host, s.cfg.Master.RootPort)
		}))
	}
	if s.cfg.MasterPB() {
		mopts = append(mopts, distributed.WithDialer(pb.NodeDialer(pb.WithLogger(s.log))))
	} else {
		mopts = append(mopts, distributed.WithDialOptions(s.sec.dial(masterIdentity, service)...))
	}
	master := distributed.NewNode(s.Name(), mopts...)
	master.OnConnect(func(*rpc.Conn) {
		s.log.Info("cluster: joined the master", "addr", addr, "at", remoteAddr(master.Link()), "pb", s.cfg.MasterPB())
	})
	s.mu.Lock()
	s.master = master
	s.mu.Unlock()
	go s.joinMaster(ctx, master, addr)

	select {
	case <-ctx.Done():
	case <-s.stopc:
	}
	hctx, hcancel := context.WithTimeout(context.Background(), s.opts.callTimeout)
	s.runStopHook(hctx)
	hcancel()
	s.log.Info("cluster: server stopped")
	return nil
}

// joinMaster joins the master, trying until it answers (Node.Join); from
// then on the node rejoins by itself.
func (s *Server) joinMaster(ctx context.Context, master *distributed.Node, addr string) {
	s.log.Info("cluster: joining the master", "addr", addr)
	if err := master.Join(ctx, addr); err != nil && ctx.Err() == nil && !errors.Is(err, distributed.ErrNodeClosed) {
		s.log.Error("cluster: could not join the master", "addr", addr, "err", err)
	}
}

// close closes the master link, the nodes and the root, in that order.
func (s *Server) close() {
	s.mu.Lock()
	master := s.master
	s.mu.Unlock()
	if master != nil {
		master.Close()
	}
	for _, l := range s.links {
		l.close()
	}
	if s.pbRoot != nil {
		s.pbRoot.Close()
	}
	if s.root != nil {
		s.root.Close()
	}
}
