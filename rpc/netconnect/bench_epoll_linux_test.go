//go:build linux

package netconnect

import (
	"fmt"
	"net"
	"runtime"
	"syscall"
	"time"
)

// epollReader reads many connections from one loop on an epoll set. Its
// sockets are its own (made with syscall, not package net), so that the Go
// runtime's poller is not woken for them as well.
type epollReader struct {
	ep   int
	fds  []int
	bufs [][]byte // each connection's bytes short of a packet
}

// dialEpoll opens n connections to addr (host:port, IPv4) and returns the
// loop that reads them.
func dialEpoll(addr string, n int) (*epollReader, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	r := &epollReader{ep: ep, bufs: make([][]byte, n)}
	r.fds, err = dialRawSockets(addr, n)
	if err != nil {
		return nil, err
	}
	for i, fd := range r.fds {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// dialRawSockets opens n TCP connections to addr (host:port, IPv4) with
// syscall and returns their descriptors, non-blocking.
func dialRawSockets(addr string, n int) ([]int, error) {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	fds := make([]int, 0, n)
	for i := range n {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		if err := syscall.Connect(fd, sa); err != nil {
			return nil, fmt.Errorf("connection %d: %w", i, err)
		}
		if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
			return nil, err
		}
		if err := syscall.SetNonblock(fd, true); err != nil {
			return nil, err
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// run reads until a connection fails, calling got with each packet's body
// and the time it was read (Unix nanoseconds).
func (r *epollReader) run(got func(body []byte, now int64)) error {
	runtime.LockOSThread()
	var d Datapack
	events := make([]syscall.EpollEvent, 1024)
	buf := make([]byte, 64<<10)
	for {
		k, err := syscall.EpollWait(r.ep, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for _, ev := range events[:k] {
			i := int(ev.Fd)
			for {
				n, err := syscall.Read(r.fds[i], buf)
				if err == syscall.EAGAIN || err == syscall.EINTR {
					break
				}
				if err != nil {
					return err
				}
				if n == 0 {
					return nil // the server closed: the benchmark is over
				}
				now := time.Now().UnixNano()
				b := append(r.bufs[i], buf[:n]...)
				for {
					_, body, used, err := d.Decode(b)
					if err != nil {
						return err
					}
					if used == 0 {
						break
					}
					got(body, now)
					b = b[used:]
				}
				r.bufs[i] = append(r.bufs[i][:0], b...)
				if n < len(buf) {
					break
				}
			}
		}
	}
}
