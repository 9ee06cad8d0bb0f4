package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrIdleTimeout is the reason a connection was closed by WithIdleTimeout.
// The connection's Err matches both it and ErrConnectionLost.
var ErrIdleTimeout = errors.New("rpc: idle timeout")

// WithIdleTimeout closes a connection on which no call has been made in
// either direction for d: no rpc message was sent or received, no outgoing
// call was waiting for its answer and no handler was running. Keepalive pings
// do not count. The connection ends with an error matching ErrIdleTimeout
// (and ErrConnectionLost), logged at Info, and the peer receives the reason
// in the transport's GOAWAY. Zero, the default, never closes an idle
// connection.
//
// A call the peer sends just as the timeout fires fails on its side with
// ErrConnectionLost, like any call in flight when a connection closes.
func WithIdleTimeout(d time.Duration) Option { return func(o *options) { o.idleTimeout = d } }

// The transport's framing, as docs/PROTOCOL.md part 1 fixes it: the idle
// watch tells DATA frames (rpc messages) from the rest (window updates,
// pings, GOAWAY).
const (
	tpPrefaceLen = 24
	tpHeaderLen  = 10
	tpTypeData   = 0
	tpFlagRST    = 0x04
)

// activityConn is the connection under a transport session when an idle
// timeout is set. It follows the frames both ways and records when a DATA
// frame with a payload last passed.
type activityConn struct {
	net.Conn
	last atomic.Int64 // unix nanoseconds

	rmu sync.Mutex
	r   frameScanner
	wmu sync.Mutex
	w   frameScanner
}

func newActivityConn(c net.Conn) *activityConn {
	a := &activityConn{Conn: c, r: frameScanner{skip: tpPrefaceLen}, w: frameScanner{skip: tpPrefaceLen}}
	a.touch()
	return a
}

func (a *activityConn) touch() { a.last.Store(time.Now().UnixNano()) }

func (a *activityConn) lastActive() time.Time { return time.Unix(0, a.last.Load()) }

func (a *activityConn) Read(p []byte) (int, error) {
	n, err := a.Conn.Read(p)
	if n > 0 {
		a.rmu.Lock()
		data := a.r.scan(p[:n])
		a.rmu.Unlock()
		if data {
			a.touch()
		}
	}
	return n, err
}

func (a *activityConn) Write(p []byte) (int, error) {
	n, err := a.Conn.Write(p)
	if n > 0 {
		a.wmu.Lock()
		data := a.w.scan(p[:n])
		a.wmu.Unlock()
		if data {
			a.touch()
		}
	}
	return n, err
}

// frameScanner follows frame boundaries in a byte stream.
type frameScanner struct {
	skip int // bytes to pass over: the preface, or a frame's payload
	hdr  [tpHeaderLen]byte
	n    int // header bytes gathered
}

// scan consumes p and reports whether it began a DATA frame with a payload.
func (s *frameScanner) scan(p []byte) (data bool) {
	for len(p) > 0 {
		if s.skip > 0 {
			k := min(s.skip, len(p))
			s.skip -= k
			p = p[k:]
			continue
		}
		k := copy(s.hdr[s.n:], p)
		s.n += k
		p = p[k:]
		if s.n < tpHeaderLen {
			break
		}
		s.n = 0
		length := binary.BigEndian.Uint32(s.hdr[6:])
		if s.hdr[0] == tpTypeData && s.hdr[1]&tpFlagRST == 0 && length > 0 {
			data = true
		}
		s.skip = int(length)
	}
	return data
}

// unwrapConn returns the connection under the idle watch's wrapper.
func unwrapConn(nc net.Conn) net.Conn {
	if a, ok := nc.(*activityConn); ok {
		return a.Conn
	}
	return nc
}

// watchIdle closes the connection once it has been idle for the idle timeout.
func (c *Conn) watchIdle() {
	d := c.opts.idleTimeout
	a, ok := c.sess.Conn().(*activityConn)
	if d <= 0 || !ok {
		return
	}
	a.touch()
	go func() {
		t := time.NewTimer(d)
		defer t.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-t.C:
			}
			if st := c.Stats(); st.PendingCalls > 0 || st.RunningHandlers > 0 {
				a.touch()
			}
			idle := time.Since(a.lastActive())
			if idle < d {
				t.Reset(d - idle)
				continue
			}
			c.log.Info("rpc: closing idle connection", "remote", c.RemoteAddr(), "idle", idle.Round(time.Millisecond), "limit", d)
			c.shutdown(fmt.Errorf("%w: no call in either direction for %v", ErrIdleTimeout, d))
			return
		}
	}()
}
