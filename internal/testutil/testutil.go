// Package testutil holds the helpers the module's tests share: contexts
// bounded by the test, polling for a condition, free loopback ports, a log
// buffer to wait on, and a fault proxy closed with the test.
package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/faultproxy"
	"github.com/fireflyrpc/firefly/transport"
)

// Context returns a context that ends with the test or after 20 s, a guard
// against hangs.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond until it holds, and fails the test after 10 s.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// Settled returns the goroutine count once it has stopped changing (the
// same in five samples 10 ms apart), or after 5 s.
func Settled() int {
	n, same := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(5 * time.Second); same < 5 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

// FreePorts returns n distinct TCP ports free on loopback right now.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// FaultProxy starts a fault proxy in front of addr, closed with the test.
func FaultProxy(t testing.TB, addr string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// LogBuf collects a logger's output for a test to read. The zero value is
// empty and ready; it is safe for concurrent use.
type LogBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the log.
func (l *LogBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *LogBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Logger returns a text logger writing everything, debug included, to l.
func (l *LogBuf) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Mark returns the log's length, for WaitForSince.
func (l *LogBuf) Mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}

// WaitFor waits until the log contains every one of subs, and fails the
// test after 10 s.
func (l *LogBuf) WaitFor(t testing.TB, subs ...string) {
	t.Helper()
	l.WaitForSince(t, 0, subs...)
}

// WaitForSince waits until the log written after mark contains every one of
// subs, and fails the test after 10 s.
func (l *LogBuf) WaitForSince(t testing.TB, mark int, subs ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := l.String()[mark:]
		missing := ""
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				missing = sub
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q; it holds:\n%s", missing, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FastKeepalive is a transport configuration that declares a silent peer
// dead after 500 ms, for tests of lost connections.
func FastKeepalive() transport.Config {
	cfg := transport.DefaultConfig()
	cfg.KeepAliveInterval = 100 * time.Millisecond
	cfg.KeepAliveTimeout = 500 * time.Millisecond
	return cfg
}

// NoLeaks fails the test, with every goroutine's stack, when more than
// before goroutines are still running after 10 s.
func NoLeaks(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	n := runtime.NumGoroutine()
	for n > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines left, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// GetJSON serves h on a test HTTP server, GETs its page, checks that it is
// 200 OK with a JSON content type, and decodes it into v.
func GetJSON(t testing.TB, h http.Handler, v any) {
	t.Helper()
	hs := httptest.NewServer(h)
	defer hs.Close()
	resp, err := hs.Client().Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("GET: %s, %q: %s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
}
