package netconnect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/fireflyrpc/firefly/rpc/cluster"
)

// ClusterApp returns app extended with the front-end: a server of the
// cluster with a netport runs app, then (unless app started one itself
// with StartFrontend) a Server with opts on its netport, forwarding to its
// first root (Forward): Firefly's net server with no code of the game's
// own. A server without a netport runs app alone. app may be nil.
func ClusterApp(app cluster.App, opts ...Option) cluster.App {
	return func(ctx context.Context, s *cluster.Server) error {
		st := &frontState{}
		if app != nil {
			if err := app(context.WithValue(ctx, frontKey{}, st), s); err != nil {
				return err
			}
		}
		if st.started.Load() || s.Config().NetPort == 0 {
			return nil
		}
		_, err := StartFrontend(ctx, s, opts...)
		return err
	}
}

type frontKey struct{}

// frontState tells ClusterApp that its app started the front-end.
type frontState struct{ started atomic.Bool }

// StartFrontend listens on the netport of s (every interface) and serves a
// Server with opts there until ctx ends (then it shuts it down, giving
// queued packets up to a second); the server forwards to the first root in
// the server's remoteport, if any (Forward, Link.Call being
// s.CallRemote). An App calls it to reach the Server: to map handlers of
// its own, or hooks, before clients come.
func StartFrontend(ctx context.Context, s *cluster.Server, opts ...Option) (*Server, error) {
	if st, ok := ctx.Value(frontKey{}).(*frontState); ok {
		st.started.Store(true)
	}
	port := s.Config().NetPort
	if port == 0 {
		return nil, fmt.Errorf("netconnect: server %q has no netport", s.Name())
	}
	srv := NewServer(opts...)
	if rp := s.Config().RemotePort; len(rp) > 0 {
		gate := rp[0].RootName
		err := srv.Forward(Link{
			Call: func(ctx context.Context, command any, reply any, args ...any) error {
				return s.CallRemote(ctx, gate, command, reply, args...)
			},
			Service: s.NodeService(gate),
		})
		if err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("netconnect: server %q: %w", s.Name(), err)
	}
	go func() {
		if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, ErrServerClosed) && ctx.Err() == nil {
			srv.log.Error("netconnect: serving stopped", "err", err)
		}
	}()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	return srv, nil
}
