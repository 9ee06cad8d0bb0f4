package rpc

import (
	"context"
	"testing"
	"time"
)

// gate's wait returns once release is closed.
type gate struct{ release chan struct{} }

func (g *gate) RemoteWait() string { <-g.release; return "answered" }

// The side that sent GOAWAY still gets the answers to its calls in flight,
// even when the answering side has no lane open yet and must open one after
// the GOAWAY arrived.
func TestAnswersAfterCallerGoAway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	g := &gate{release: make(chan struct{})}
	sc, client := connPair(t, nil, g)
	type result struct {
		s   string
		err error
	}
	res := make(chan result, 1)
	go func() {
		var s string
		err := sc.Root().Call(ctx, "wait", &s)
		res <- result{s, err}
	}()
	for client.Stats().Handlers == 0 {
		time.Sleep(time.Millisecond)
	}
	// The caller goes away with its call in flight, as Shutdown does.
	sc.closing.Store(true)
	sc.openLanes(ctx)
	sc.sess.GoAway()
	for !client.sess.GoAwayReceived() {
		time.Sleep(time.Millisecond)
	}
	close(g.release)
	select {
	case r := <-res:
		if r.err != nil || r.s != "answered" {
			t.Fatalf("call in flight at GOAWAY: %q, %v; want the answer", r.s, r.err)
		}
	case <-ctx.Done():
		t.Fatal("the answer to a call in flight at GOAWAY never came")
	}
}
