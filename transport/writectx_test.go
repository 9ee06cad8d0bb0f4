package transport

import (
	"context"
	"errors"
	"testing"
	"time"
)

// WriteContext gives up when its context ends while the peer's flow control
// holds the write, and the session stays usable.
func TestWriteContextGivesUp(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	a, _ := openAccept(t, c, s, "x") // the peer never reads this stream
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	n, err := a.WriteContext(ctx, make([]byte, 4*DefaultInitialWindow))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WriteContext = %d, %v; want DeadlineExceeded", n, err)
	}
	if n == 0 || n >= 4*DefaultInitialWindow {
		t.Fatalf("wrote %d bytes before giving up; want part of the window", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v", d)
	}
	openAccept(t, c, s, "still works")
}
