//go:build !linux

package transport

import "net"

// limitUnsent is a no-op where TCP_NOTSENT_LOWAT is not available.
func limitUnsent(net.Conn, int) {}

// unreadInput cannot tell, where it is not written for the system.
func unreadInput(net.Conn) (n int, ok bool) { return 0, false }
