//go:build unix

package netconnect

import (
	"net"
	"syscall"

	"github.com/fireflyrpc/firefly/internal/sockets"
)

// rawConn returns c's descriptor access for writes that must not block,
// or nil if c is not a plain TCP or Unix connection (a TLS connection, for
// one, must not be written to beneath it).
func rawConn(c net.Conn) syscall.RawConn { return sockets.Raw(c) }

// writeNow writes as much of p as the socket takes without waiting and
// returns how much it wrote.
func writeNow(rc syscall.RawConn, p []byte) (int, error) {
	n := 0
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, e := syscall.Write(int(fd), p[n:])
			if m > 0 {
				n += m
			}
			switch e {
			case nil:
			case syscall.EINTR:
			case syscall.EAGAIN:
				return true
			default:
				werr = e
				return true
			}
		}
		return true
	})
	if err != nil {
		return n, err
	}
	return n, werr
}
