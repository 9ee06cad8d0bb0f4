// Package sockets gives the packages of this module access to the
// descriptor of a plain TCP or Unix connection, for the socket calls the
// net package does not make.
package sockets

import (
	"net"
	"syscall"
)

// Raw returns c's descriptor access when c is a plain TCP or Unix
// connection, and nil otherwise: a connection that wraps another (TLS, for
// one) must not be read or written beneath it, nor be asked what its
// socket holds.
func Raw(c net.Conn) syscall.RawConn {
	var sc syscall.Conn
	switch c := c.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
