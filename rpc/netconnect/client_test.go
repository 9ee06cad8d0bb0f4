package netconnect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// TestClientConcurrentRequests: many goroutines share a client; replies
// of one command are matched in the order the requests were sent.
func TestClientConcurrentRequests(t *testing.T) {
	srv, addr := startServer(t)
	srv.Service().Handle(1, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		return body, nil
	})
	srv.Service().Handle(2, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		return append([]byte("two:"), body...), nil
	})
	c := dial(t, addr)
	ctx := testutil.Context(t)
	var mu [3]sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				cmd := uint32(1 + (g+i)%2)
				body := fmt.Sprint(g, "/", i)
				want := body
				if cmd == 2 {
					want = "two:" + body
				}
				// Requests of one command from several goroutines may
				// be sent in any order, so only one goroutine at a time
				// may have a request of a command in flight for the
				// reply to be its own: serialize per command.
				mu[cmd].Lock()
				got, err := c.Request(ctx, cmd, []byte(body))
				mu[cmd].Unlock()
				if err != nil || string(got) != want {
					t.Errorf("request %d %q: %q, %v", cmd, body, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestClientLateReply: a request that gave up leaves its late reply to
// Recv; the client goes on.
func TestClientLateReply(t *testing.T) {
	srv, addr := startServer(t)
	release := make(chan struct{})
	srv.Service().Handle(1, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		<-release
		return []byte("late"), nil
	})
	srv.Service().Handle(2, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		return []byte("now"), nil
	})
	c := dial(t, addr)
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Request(short, 1, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request past its deadline: %v", err)
	}
	close(release)
	ctx := testutil.Context(t)
	if p, err := c.Recv(ctx); err != nil || p.Command != 1 || string(p.Body) != "late" {
		t.Fatalf("late reply: %+v, %v", p, err)
	}
	if got, err := c.Request(ctx, 2, nil); err != nil || string(got) != "now" {
		t.Fatalf("next request: %q %v", got, err)
	}
	c.Close()
	if _, err := c.Request(ctx, 2, nil); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("request after Close: %v", err)
	}
	if _, err := c.Recv(ctx); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("Recv after Close: %v", err)
	}
}
