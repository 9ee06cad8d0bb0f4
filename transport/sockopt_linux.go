package transport

import (
	"net"
	"syscall"
	"unsafe"

	"github.com/fireflyrpc/firefly/internal/sockets"
)

// tcpNotSentLowat is Linux's TCP_NOTSENT_LOWAT socket option.
const tcpNotSentLowat = 25

// limitUnsent keeps at most n bytes of unsent data in the kernel's send
// buffer of a TCP connection. The writer's fair, round-robin order only holds
// for what is still in its own queue: bytes already in the kernel leave in the
// order they were written, so without this bound a small message could wait
// behind megabytes of a bulk transfer that the kernel buffered. It is a best
// effort: errors are ignored.
func limitUnsent(conn net.Conn, n int) {
	tc, ok := conn.(*net.TCPConn)
	if !ok || n <= 0 {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat, n)
	})
}

// unreadInput reports how many bytes a TCP or Unix connection's kernel
// receive buffer holds, unread; ok is false when it cannot tell.
func unreadInput(conn net.Conn) (n int, ok bool) {
	rc := sockets.Raw(conn)
	if rc == nil {
		return 0, false
	}
	var count int32 // the ioctl's int
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&count)))
	}); err != nil || errno != 0 {
		return 0, false
	}
	return int(count), true
}
