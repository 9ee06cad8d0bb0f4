package netconnect

import (
	"context"
	"errors"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// The commands a front-end and its gate exchange over the rpc layer,
// Firefly's names.
const (
	// ForwardingCommand is the gate's target for a client packet:
	// forwarding(command uint32, session uint64, data []byte) []byte. A
	// non-empty result is the reply sent to the session.
	ForwardingCommand = "forwarding"
	// SessionLostCommand is the gate's target told of a session that
	// closed: netConnLost(session uint64).
	SessionLostCommand = "netConnLost"
	// PushDataCommand is the front-end's target for a push:
	// pushData(topic uint32, data []byte, sessions []uint64) int.
	PushDataCommand = "pushData"
	// BroadcastDataCommand is the front-end's target for a push to every
	// session: broadcastData(topic uint32, data []byte) int.
	BroadcastDataCommand = "broadcastData"
	// CloseSessionCommand is the front-end's target that closes a session
	// (Firefly's loseConnection): loseConnection(session uint64) bool.
	CloseSessionCommand = "loseConnection"
	// StatsCommand is the front-end's target that answers its counters:
	// netStats() Stats.
	StatsCommand = "netStats"
)

// DefaultForwardTimeout bounds a forwarded call when Link.Timeout is
// zero.
const DefaultForwardTimeout = 30 * time.Second

// lostTimeout bounds a lost-session notice, which the ending session's
// goroutine sends before it exits.
const lostTimeout = 5 * time.Second

// A Link is how a front-end reaches its gate through the rpc layer.
type Link struct {
	// Call runs a command of the gate's service and stores its result in
	// reply: distributed.Node.CallRemote, or cluster.Server.CallRemote bound to
	// the gate's name.
	Call func(ctx context.Context, command any, reply any, args ...any) error
	// Service is the service the gate calls on this side (the node's
	// service, distributed.Node.Service); Forward maps the push commands on it. nil
	// leaves the push path out.
	Service *distributed.Service
	// Timeout bounds each forwarded call (default DefaultForwardTimeout):
	// it fails no sooner than Timeout after it began and no later than
	// Timeout and an eighth (the calls of a session share a deadline).
	Timeout time.Duration
}

// Forward wires the server to its gate, Firefly's way, with no code of the
// game's own:
//
//   - the CatchAll handler, unless one is set, forwards every packet
//     without a handler of its own as Call(ForwardingCommand, command,
//     session id, body) and sends the result back as the reply (an empty
//     result sends none);
//   - on l.Service, PushDataCommand, BroadcastDataCommand,
//     CloseSessionCommand and StatsCommand reach Push, Broadcast,
//     CloseSession and Stats (a command mapped there already is left as
//     it is);
//   - a session that closes is told to the gate with
//     Call(SessionLostCommand, session id), within 5 seconds at most; a
//     gate that does not map it is not an error.
//
// A burst waits rather than failing: the gate's rpc connection announces
// how many calls it runs at once, and calls past that wait on this side,
// within the call's timeout, until a handler of the gate is free.
//
// Handlers mapped for a command before or after Forward take that command
// over: overriding the forwarding is mapping a handler.
func (s *Server) Forward(l Link) error {
	if l.Call == nil {
		return errors.New("netconnect: Link.Call is nil")
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = DefaultForwardTimeout
	}
	if !s.Service().Handles(CatchAll) {
		s.Service().Handle(CatchAll, func(ctx context.Context, sess *Session, command uint32, body []byte) ([]byte, error) {
			if ctx != sess.ctx {
				// Not the session's own handler call: a context of its own.
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			} else {
				dc := sess.calls.get(ctx, timeout)
				defer sess.calls.put(dc)
				ctx = dc.ctx
			}
			var reply []byte
			if err := l.Call(ctx, ForwardingCommand, &reply, command, sess.ID(), body); err != nil {
				return nil, err
			}
			if len(reply) == 0 {
				return nil, nil
			}
			return reply, nil
		})
	}
	lost := func(sess *Session, _ error) {
		ctx, cancel := context.WithTimeout(context.Background(), min(timeout, lostTimeout))
		defer cancel()
		err := l.Call(ctx, SessionLostCommand, nil, sess.ID())
		if err != nil && !errors.Is(err, rpc.ErrNoSuchMethod) {
			s.log.Debug("netconnect: telling the gate of a lost session failed", "session", sess.ID(), "err", err)
		}
	}
	s.linkLost.Store(&lost)
	if l.Service == nil {
		return nil
	}
	var errs []error
	mapIfFree := func(name string, fn any) {
		if l.Service.Target(name) != nil {
			return
		}
		errs = append(errs, l.Service.Map(name, fn))
	}
	mapIfFree(PushDataCommand, func(topic uint32, data []byte, sessions []uint64) (int, error) {
		return s.Push(topic, data, sessions...)
	})
	mapIfFree(BroadcastDataCommand, func(topic uint32, data []byte) (int, error) {
		return s.Broadcast(topic, data)
	})
	mapIfFree(CloseSessionCommand, func(session uint64) bool {
		return s.CloseSession(session)
	})
	mapIfFree(StatsCommand, s.Stats)
	return errors.Join(errs...)
}
