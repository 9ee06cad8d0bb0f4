package netconnect

import (
	"context"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// TestSharedDeadlines: calls share a context while its deadline is at
// least the timeout away; a later call gets a new one, and the old one is
// cancelled once its last call gave it back, not before.
func TestSharedDeadlines(t *testing.T) {
	const timeout = 80 * time.Millisecond
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	var d sharedDeadlines
	t0 := time.Now()
	a := d.get(parent, timeout)
	dl, ok := a.ctx.Deadline()
	if !ok || dl.Before(t0.Add(timeout)) || dl.After(time.Now().Add(timeout+timeout/callSlack)) {
		t.Fatalf("deadline %v after the call began; want between %v and %v", dl.Sub(t0), timeout, timeout+timeout/callSlack)
	}
	if b := d.get(parent, timeout); b != a {
		t.Fatal("a call at once got a context of its own")
	} else {
		d.put(b)
	}
	time.Sleep(timeout/callSlack + time.Millisecond) // a's deadline is less than the timeout away
	c := d.get(parent, timeout)
	if c == a {
		t.Fatal("a call whose timeout passes the shared deadline got it")
	}
	if a.ctx.Err() != nil {
		t.Fatal("a context in use was cancelled")
	}
	d.put(a)
	if a.ctx.Err() == nil {
		t.Fatal("a replaced context was not cancelled with its last call")
	}
	d.put(c)
	if c.ctx.Err() != nil {
		t.Fatal("the current context was cancelled")
	}
	cancelParent()
	if c.ctx.Err() == nil {
		t.Fatal("the parent's end did not end the shared context")
	}
}

// TestForwardTimeout: a forwarded call the gate does not answer fails
// after Link.Timeout (the handler error is counted), and the session goes
// on.
func TestForwardTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	m := startMiniCluster(t)
	srv, addr := startServer(t)
	if err := srv.Forward(Link{Call: m.node.CallRemote, Timeout: timeout}); err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t)
	c := dial(t, addr)
	start := time.Now()
	if err := c.Send(ctx, 1006, nil); err != nil { // the gate holds it until its context ends
		t.Fatal(err)
	}
	testutil.Eventually(t, "the call to time out", func() bool { return srv.Stats().Errors["handler"] == 1 })
	if d := time.Since(start); d < timeout {
		t.Fatalf("the call failed after %v, before its timeout %v", d, timeout)
	}
	if got, err := c.Request(ctx, 1005, nil); err != nil || string(got) != "net" {
		t.Fatalf("after the timeout: %q, %v", got, err)
	}
}
