//go:build linux

package netconnect

import (
	"bytes"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// epollLoad is requestLoad with clients that cost the machine as little as
// clients on other machines would: raw sockets served by one epoll loop on
// this goroutine, each with one request at a time. The requests of a paced
// load are due in turn, client after client, rate a second in all; a
// client whose last request is still out sends its due ones when the reply
// comes, and latency counts from when a request was due.
func epollLoad(b *testing.B, addr string, clients int, rate float64, body []byte, want string) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var d Datapack
	req, _ := d.Encode(1001, body)
	reply, _ := d.Encode(1001, []byte(want))
	fds, err := dialRawSockets(addr, clients)
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	if err != nil {
		b.Fatal(err)
	}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Close(ep)
	for i, fd := range fds {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			b.Fatal(err)
		}
	}
	l := &loadLoop{b: b, ep: ep, fds: fds, req: req, reply: reply,
		got: make([]int, clients), sent: make([]time.Time, clients), backlog: make([][]time.Time, clients)}
	// One request each before timing: every session is up.
	l.run(time.Now(), clients, 0)
	l.lat = l.lat[:0]
	cpu0 := processCPU()
	b.ResetTimer()
	start := time.Now()
	l.run(start, b.N, rate)
	elapsed := time.Since(start)
	b.StopTimer()
	reportLoad(b, l.lat, elapsed, processCPU()-cpu0)
}

// loadLoop is epollLoad's state.
type loadLoop struct {
	b          *testing.B
	ep         int
	fds        []int
	req, reply []byte
	got        []int         // bytes of the reply each client has read
	sent       []time.Time   // when each client's request out was due
	backlog    [][]time.Time // due times of requests waiting for their client
	busy       []bool
	lat        []time.Duration
}

// run makes n requests, at rate a second (0: each client's next as soon
// as it has the reply), from start, and returns when all are answered.
func (l *loadLoop) run(start time.Time, n int, rate float64) {
	clients := len(l.fds)
	l.busy = make([]bool, clients)
	issued, done := 0, 0
	send := func(i int, due time.Time) {
		if w, err := syscall.Write(l.fds[i], l.req); err != nil || w != len(l.req) {
			l.b.Fatalf("client %d: wrote %d of %d: %v", i, w, len(l.req), err)
		}
		l.sent[i], l.busy[i] = due, true
		issued++
	}
	issue := func(i int, due time.Time) {
		if l.busy[i] {
			l.backlog[i] = append(l.backlog[i], due)
			return
		}
		send(i, due)
	}
	if rate == 0 {
		for i := range min(n, clients) {
			send(i, time.Now())
		}
	}
	scheduled := 0 // paced: the requests made due so far
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 4096)
	for done < n {
		timeout := -1
		if rate > 0 {
			now := time.Now()
			for scheduled < n {
				due := start.Add(time.Duration(float64(scheduled) / rate * float64(time.Second)))
				if due.After(now) {
					timeout = int((due.Sub(now) + time.Millisecond - 1) / time.Millisecond)
					break
				}
				issue(scheduled%clients, due)
				scheduled++
			}
		}
		k, err := syscall.EpollWait(l.ep, events, timeout)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			l.b.Fatal(err)
		}
		for _, ev := range events[:k] {
			i := int(ev.Fd)
			m, err := syscall.Read(l.fds[i], buf)
			if err == syscall.EAGAIN {
				continue
			}
			if err != nil || m == 0 {
				l.b.Fatalf("client %d: read %d: %v", i, m, err)
			}
			// One request is out at a time: what comes is its reply.
			if l.got[i]+m > len(l.reply) || !bytes.Equal(buf[:m], l.reply[l.got[i]:l.got[i]+m]) {
				l.b.Fatalf("client %d: reply %q, want %q", i, buf[:m], l.reply)
			}
			if l.got[i] += m; l.got[i] < len(l.reply) {
				continue
			}
			l.got[i], l.busy[i] = 0, false
			l.lat = append(l.lat, time.Since(l.sent[i]))
			done++
			switch {
			case len(l.backlog[i]) > 0:
				due := l.backlog[i][0]
				l.backlog[i] = l.backlog[i][1:]
				send(i, due)
			case rate == 0 && issued < n:
				send(i, time.Now())
			}
		}
	}
	if issued != n {
		panic(fmt.Sprintf("epoll load: %d requests issued for %d", issued, n))
	}
}
