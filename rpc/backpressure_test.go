package rpc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/transport"
)

// burstRoot's add is the trivial method of a login storm.
type burstRoot struct{}

func (burstRoot) RemoteAdd(a, b int) int { return a + b }

// burst makes n concurrent calls of add(i, 1) on conn and returns the
// errors they met, by message, and the number of wrong sums.
func burst(ctx context.Context, conn *rpc.Conn, n int) (errs map[string]int, wrong int) {
	var mu sync.Mutex
	errs = map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var s int
			err := conn.Root().Call(ctx, "add", &s, i, 1)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[err.Error()]++
			} else if s != i+1 {
				wrong++
			}
		}()
	}
	close(start)
	wg.Wait()
	return errs, wrong
}

// TestBurstBackpressure: 20,000 concurrent callers on one connection to a
// default server are all answered: the calls past the server's announced
// handler limit wait on the caller's side instead of being refused.
func TestBurstBackpressure(t *testing.T) {
	_, conn := pair(t, burstRoot{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	const n = 20000
	errs, wrong := burst(ctx, conn, n)
	if len(errs) > 0 || wrong > 0 {
		t.Fatalf("%d concurrent calls: %d wrong sums, errors %v", n, wrong, errs)
	}
	if err := conn.Err(); err != nil {
		t.Fatalf("connection lost after the burst: %v", err)
	}
}

// TestBurstBoundedByPendingCalls: with WithMaxPendingCalls on the caller,
// calls past that bound fail at once with ErrTooManyCalls (a bound the
// caller set) and the others are all answered.
func TestBurstBoundedByPendingCalls(t *testing.T) {
	_, conn := pair(t, burstRoot{}, []rpc.Option{rpc.WithMaxHandlers(4)}, rpc.WithMaxPendingCalls(100))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs, wrong := burst(ctx, conn, 2000)
	if wrong > 0 {
		t.Fatalf("%d wrong sums", wrong)
	}
	for msg := range errs {
		if msg != rpc.ErrTooManyCalls.Error() {
			t.Fatalf("errors %v, want only %v", errs, rpc.ErrTooManyCalls)
		}
	}
	var s int
	if err := conn.Root().Call(ctx, "add", &s, 1, 2); err != nil || s != 3 {
		t.Fatalf("add after the burst = %d, %v", s, err)
	}
}

// TestBurstWaitBoundedByContext: a call waiting for a handler slot of the
// peer ends with its context, and is not sent.
func TestBurstWaitBoundedByContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root, conn, release, first := busyHandler(t, ctx)
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if err := conn.Root().Call(short, "block", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call waiting for the peer's only handler = %v, want DeadlineExceeded", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := root.calls(); got != 1 {
		t.Fatalf("the server ran %d calls, want 1 (the one that waited out its context is never sent)", got)
	}
}

// blockRoot's block waits for release.
type blockRoot struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (b *blockRoot) RemoteBlock() {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
}

func (b *blockRoot) calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// TestSettingsRules: a peer that sends no SETTINGS within the handshake
// timeout, or sends a second one, is closed as a violation.
func TestSettingsRules(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.HandshakeTimeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name string
		send [][]byte
		want string
	}{
		{"none", nil, "no SETTINGS from the peer"},
		{"twice", [][]byte{settingsMsg(8), settingsMsg(8)}, "a second SETTINGS"},
		{"zero", [][]byte{settingsMsg(0)}, "a call limit of 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log testutil.LogBuf
			_, addr := secServe(t, burstRoot{}, rpc.WithTransportConfig(cfg), rpc.WithLogger(log.Logger()))
			p := dialRaw(t, addr, nil)
			ctx := testutil.Context(t)
			st, err := p.lane(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.send {
				st.Write(m)
			}
			select {
			case <-p.sess.Done():
			case <-ctx.Done():
				t.Fatal("the server kept the connection")
			}
			log.WaitFor(t, tc.want)
		})
	}
}
