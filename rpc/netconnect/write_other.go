//go:build !unix

package netconnect

import (
	"net"
	"syscall"
)

// rawConn returns nil: writes go through the session's writer goroutine.
func rawConn(c net.Conn) syscall.RawConn { return nil }

// writeNow is never called without a raw connection.
func writeNow(rc syscall.RawConn, p []byte) (int, error) { return 0, nil }
