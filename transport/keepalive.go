package transport

import (
	"context"
	"fmt"
	"time"
)

// Ping sends a PING and waits for the answer, returning the round-trip time.
func (s *Session) Ping(ctx context.Context) (time.Duration, error) {
	ch := make(chan struct{})
	s.mu.Lock()
	if s.err != nil {
		err := s.streamErr
		s.mu.Unlock()
		return 0, err
	}
	s.pingSeq++
	id := s.pingSeq
	s.pings[id] = ch
	s.mu.Unlock()
	start := time.Now()
	s.w.queuePing(false, id)
	s.needReader()
	select {
	case <-ch:
		return time.Since(start), nil
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.pings, id)
		s.mu.Unlock()
		return 0, ctx.Err()
	case <-s.done:
		return 0, s.sessionErr()
	}
}

// kaPeriod is the keepalive timer's period: the interval, or half the
// timeout when that is shorter, so a silent peer is pinged before it is
// declared dead.
func (s *Session) kaPeriod() time.Duration {
	return min(s.cfg.KeepAliveInterval, max(s.cfg.KeepAliveTimeout/2, time.Millisecond))
}

// keepalive runs on a timer: it pings a silent peer and declares it dead when
// nothing at all has arrived for KeepAliveTimeout.
func (s *Session) keepalive() {
	s.kaMu.Lock()
	if s.isDone() {
		s.kaMu.Unlock()
		return
	}
	now := time.Now()
	if s.recvActive.Swap(false) {
		s.kaLast = now
		s.kaPinged = false
	}
	idle := now.Sub(s.kaLast)
	dead := idle >= s.cfg.KeepAliveTimeout
	ping := !dead && !s.kaPinged && idle >= s.kaPeriod()/2
	if ping {
		s.kaPinged = true
	}
	if !dead {
		s.kaTimer.Reset(s.kaPeriod())
	}
	s.kaMu.Unlock()
	if dead {
		s.shutdown(fmt.Errorf("%w: peer silent for %v (keepalive timeout)", ErrConnectionLost, idle.Round(time.Millisecond)), false)
		return
	}
	if ping {
		s.w.queuePing(false, 0)
	}
}

// stallEnter records a write that waits for the peer's credit; the first one
// arms the stall timer.
func (s *Session) stallEnter() {
	if s.cfg.SendStallTimeout <= 0 {
		return
	}
	s.stallMu.Lock()
	if s.stallWaiters == 0 {
		s.lastCredit.Store(time.Now().UnixNano())
		if s.stallTimer == nil {
			s.stallTimer = time.AfterFunc(s.cfg.SendStallTimeout, s.checkStall)
		} else {
			s.stallTimer.Reset(s.cfg.SendStallTimeout)
		}
	}
	s.stallWaiters++
	s.stallMu.Unlock()
}

// stallLeave records that a write stopped waiting for credit.
func (s *Session) stallLeave() {
	if s.cfg.SendStallTimeout <= 0 {
		return
	}
	s.stallMu.Lock()
	s.stallWaiters--
	s.stallMu.Unlock()
}

// checkStall runs on the stall timer: it closes the session when writes have
// waited for credit and none arrived, on any stream, for SendStallTimeout.
func (s *Session) checkStall() {
	limit := s.cfg.SendStallTimeout
	s.stallMu.Lock()
	if s.stallWaiters == 0 || s.isDone() {
		s.stallMu.Unlock()
		return
	}
	idle := time.Since(time.Unix(0, s.lastCredit.Load()))
	if idle < limit {
		s.stallTimer.Reset(limit - idle)
		s.stallMu.Unlock()
		return
	}
	s.stallMu.Unlock()
	why := fmt.Errorf("%w: the peer granted no flow-control credit for %v", ErrSendStalled, limit)
	s.end(fmt.Errorf("%w: %w", ErrConnectionLost, why), true, &finalGoAway{code: GoAwayInternalError, reason: why.Error()})
}
