package rpc

import (
	"errors"
	"fmt"
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

// touch records rpc activity: a message sent or received.
func (c *Conn) touch() { c.lastActive.Store(time.Now().UnixNano()) }

// watchIdle closes the connection once it has been idle for the idle timeout.
func (c *Conn) watchIdle() {
	d := c.opts.idleTimeout
	if d <= 0 {
		return
	}
	c.touch()
	go func() {
		t := time.NewTimer(d)
		defer t.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-t.C:
			}
			if c.questions.len() > 0 || c.answers.running.Load() > 0 {
				c.touch()
			}
			idle := time.Since(time.Unix(0, c.lastActive.Load()))
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
