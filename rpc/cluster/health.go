package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// CmdStatus is serverStatus(): the master asks a server for its
// ServerStatus (the master's /cluster endpoint, "firefly status").
const CmdStatus = "serverStatus"

// ErrNoStatus reports a server that answered serverStatus with nothing: a
// Python Firefly server, whose master commands are only remote_connect,
// serverStop and sreload.
var ErrNoStatus = errors.New("cluster: the server answered serverStatus with no status")

// ServerStatus is a server's own view of itself: what its /readyz serves,
// and what it answers the master's serverStatus.
type ServerStatus struct {
	// Server is the server's name.
	Server string `json:"server"`
	// Host is the server's address as the master saw it (filled in by the
	// master; "" from the server itself).
	Host string `json:"host,omitempty"`
	// Ready: the App mapped its services, the root (if any) listens, and
	// every root of the remoteport is joined.
	Ready bool `json:"ready"`
	// UptimeSeconds is how long the server has run.
	UptimeSeconds float64 `json:"uptime_seconds"`
	// Services reports that the App ran without error (its targets are
	// mapped).
	Services bool `json:"services"`
	// Master reports that the server is joined to the master.
	Master bool `json:"master"`
	// Root is the server's own root; nil if it has no rootport.
	Root *RootStatus `json:"root,omitempty"`
	// Roots lists the roots the server joins, in config order.
	Roots []LinkStatus `json:"roots"`
	// Error is why the master could not ask the server (only in the
	// master's /cluster).
	Error string `json:"error,omitempty"`
}

// RootStatus is the state of a server's own root.
type RootStatus struct {
	// Listening reports that the root accepts nodes.
	Listening bool `json:"listening"`
	// Addr is where it listens.
	Addr string `json:"addr,omitempty"`
	// Children lists the names of the nodes joined to it, sorted.
	Children []string `json:"children"`
}

// LinkStatus is a server's membership of one root.
type LinkStatus struct {
	// Root is the root's name.
	Root string `json:"root"`
	// Joined reports that the server's node is connected to it.
	Joined bool `json:"joined"`
	// Addr is the address the node was given: host:port from the master,
	// or the config's DNS name.
	Addr string `json:"addr,omitempty"`
	// At is the address the node is connected to.
	At string `json:"at,omitempty"`
	// DNS reports that the root is found through DNS.
	DNS bool `json:"dns,omitempty"`
}

// Status returns the server's view of itself.
func (s *Server) Status() ServerStatus {
	s.mu.Lock()
	st := ServerStatus{Server: s.Name(), Services: s.mapped}
	if !s.started.IsZero() {
		st.UptimeSeconds = time.Since(s.started).Seconds()
	}
	rootAddr, master := s.rootAddr, s.master
	s.mu.Unlock()
	st.Master = master != nil && master.Connected()
	ready := st.Services
	if s.root != nil {
		rs := &RootStatus{Listening: rootAddr != nil, Children: []string{}}
		if rootAddr != nil {
			rs.Addr = rootAddr.String()
		}
		for _, c := range s.root.Children() {
			rs.Children = append(rs.Children, c.Name())
		}
		slices.Sort(rs.Children)
		st.Root = rs
		ready = ready && rs.Listening
	}
	st.Roots = []LinkStatus{}
	for _, rp := range s.sc.RemotePort {
		l := s.links[rp.RootName]
		l.mu.Lock()
		ls := LinkStatus{Root: l.root, Addr: l.addr, DNS: l.dns != ""}
		if l.node != nil {
			if c := l.node.Link(); c != nil && c.Err() == nil {
				ls.Joined = true
				ls.At = c.RemoteAddr().String()
			}
		}
		l.mu.Unlock()
		st.Roots = append(st.Roots, ls)
		ready = ready && ls.Joined
	}
	st.Ready = ready
	return st
}

// HealthHandler returns the server's probe endpoints, which answer with
// JSON:
//
//	GET /healthz  200 {"status": "ok", "server": NAME}: the process is up
//	GET /readyz   200 when ready, 503 when not: the server's ServerStatus
//	              (its App mapped its services, its root listens, every
//	              root it joins is joined)
//
// Run serves it on the server's webport (every interface), if it has one.
func (s *Server) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "server": s.Name()})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		st := s.Status()
		code := http.StatusOK
		if !st.Ready {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, st)
	})
	return mux
}

// serveWeb serves HealthHandler on the server's webport; nil without one.
func (s *Server) serveWeb() (*http.Server, error) {
	if s.sc.WebPort == 0 {
		return nil, nil
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(s.sc.WebPort))
	if err != nil {
		return nil, fmt.Errorf("cluster: server %q: webport: %w", s.Name(), err)
	}
	web := &http.Server{Handler: s.HealthHandler(), ReadHeaderTimeout: 10 * time.Second}
	go web.Serve(ln)
	s.log.Info("cluster: health endpoints listening", "addr", ln.Addr())
	return web, nil
}

// ClusterStatus asks every joined server for its ServerStatus (all at once,
// each call bounded by WithCallTimeout) and returns them sorted by name, each with
// the host the master saw it at; a server that did not answer, or answered
// with no status (a Python Firefly server: ErrNoStatus), has Error set.
func (m *Master) ClusterStatus(ctx context.Context) []ServerStatus {
	rm := m.RemoteMap()
	names := sortedKeys(rm)
	out := make([]ServerStatus, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, m.opts.callTimeout)
			defer cancel()
			var got *ServerStatus
			err := m.root.CallChild(cctx, name, CmdStatus, &got)
			if err == nil && (got == nil || got.Server == "") {
				// Python Firefly's master commands have no serverStatus:
				// its Service answers an unknown command with None.
				err = ErrNoStatus
			}
			var st ServerStatus
			if err == nil {
				st = *got
			} else {
				st = ServerStatus{Error: err.Error(), Roots: []LinkStatus{}}
				for _, r := range rm[name].Roots {
					st.Roots = append(st.Roots, LinkStatus{Root: r})
				}
			}
			st.Server = name
			st.Host = rm[name].Host
			out[i] = st
		})
	}
	wg.Wait()
	return out
}

// ClusterStatus returns the cluster as the master whose admin endpoints are
// at addr sees it (its GET /cluster).
func ClusterStatus(ctx context.Context, addr string, opts ...Option) ([]ServerStatus, error) {
	var res []ServerStatus
	if err := adminRequest(ctx, http.MethodGet, addr, "/cluster", opts, &res); err != nil {
		return nil, err
	}
	return res, nil
}
