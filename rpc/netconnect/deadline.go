package netconnect

import (
	"context"
	"sync"
	"time"
)

// callSlack is the fraction of a forwarded call's timeout by which its
// deadline may be later: calls of a session share a context, and so one
// timer, while its deadline is between timeout and timeout+timeout/callSlack
// away.
const callSlack = 8

// sharedDeadlines hands out the contexts of a session's forwarded calls.
// Each ends when the session does, or at a deadline no sooner than the
// timeout after the call began and no later than the timeout and an
// eighth: a timer per session every timeout/8, not one per call.
type sharedDeadlines struct {
	mu  sync.Mutex
	cur *deadlineCtx
}

// deadlineCtx is a context shared by calls; it is cancelled once it is
// replaced and its last call returned it.
type deadlineCtx struct {
	ctx      context.Context
	cancel   context.CancelFunc
	deadline time.Time
	users    int
	replaced bool
}

// get returns a context for a call that parent bounds and that must end
// within timeout (and an eighth); the caller calls put with it when the
// call returns.
func (d *sharedDeadlines) get(parent context.Context, timeout time.Duration) *deadlineCtx {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.cur; c != nil {
		if c.deadline.Sub(now) >= timeout {
			c.users++
			return c
		}
		c.replaced = true
		if c.users == 0 {
			c.cancel()
		}
	}
	deadline := now.Add(timeout + timeout/callSlack)
	ctx, cancel := context.WithDeadline(parent, deadline)
	d.cur = &deadlineCtx{ctx: ctx, cancel: cancel, deadline: deadline, users: 1}
	return d.cur
}

// put gives back a context get returned.
func (d *sharedDeadlines) put(c *deadlineCtx) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c.users--
	if c.users == 0 && c.replaced {
		c.cancel()
	}
}
